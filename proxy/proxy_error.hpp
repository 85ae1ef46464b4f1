// Every way an exchange can fail, and the one table that maps each to a client status, an `error_type`
// label and a one-line body. Nothing else decides what a failure looks like to the client.
#pragma once

#include <cstdint>
#include <string_view>

namespace apimeter {

enum class ProxyError : std::uint8_t {
  none,
  // Client side: malformed or refused requests.
  bad_request_line,
  bad_version,  // HTTP/2.0, HTTP/1.2 ...
  bad_target,
  uri_too_long,
  bad_header_name,
  bad_header_value,
  space_before_colon,
  obs_fold,
  bare_cr_or_lf,
  header_section_too_large,
  too_many_headers,
  missing_host,
  duplicate_host,
  bad_host,
  bad_content_length,
  duplicate_content_length,
  content_length_with_transfer_encoding,
  bad_transfer_encoding,        // final coding is not chunked, or chunked twice
  unsupported_transfer_coding,  // a coding before chunked that we do not relay (gzip, ...)
  transfer_encoding_in_http10,
  bad_chunk,
  body_too_large,
  expectation_failed,
  bad_max_forwards,      // OPTIONS/TRACE with a Max-Forwards that is not one number
  method_not_supported,  // CONNECT
  no_route,
  // Client side: timing and disconnects.
  client_header_timeout,
  client_body_timeout,
  client_closed,
  request_timeout,
  // Upstream side.
  upstream_refused,
  upstream_reset,
  upstream_connect_timeout,
  upstream_response_timeout,
  upstream_body_timeout,
  upstream_bad_response,
  upstream_closed_mid_body,
  upstream_tls_certificate,  // the upstream's certificate did not verify (chain, name, validity)
  upstream_tls_handshake,    // any other TLS handshake failure with the upstream
  // The proxy itself.
  overloaded,
  kCount
};

struct ErrorInfo {
  int status;                  // status for the client, 0 when the connection is just closed
  std::string_view type;       // `error_type` label and log field
  std::string_view body;       // one-line plain-text body, newline-terminated
};

// Total over every enumerator; safe from any thread.
const ErrorInfo& error_info(ProxyError error) noexcept;

}  // namespace apimeter
