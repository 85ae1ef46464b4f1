// The table behind error_info(): one row per ProxyError, in enum order (checked at compile time).
#include "proxy/proxy_error.hpp"

#include <array>

namespace apimeter {
namespace {

struct Row {
  ProxyError error;
  ErrorInfo info;
};

constexpr std::array kRows{
    Row{ProxyError::none, {0, "", ""}},
    Row{ProxyError::bad_request_line, {400, "bad_request", "bad request: malformed request line\n"}},
    Row{ProxyError::bad_version, {505, "bad_request", "HTTP version not supported\n"}},
    Row{ProxyError::bad_target, {400, "bad_request", "bad request: malformed request target\n"}},
    Row{ProxyError::uri_too_long, {414, "uri_too_long", "request target too long\n"}},
    Row{ProxyError::bad_header_name, {400, "bad_request", "bad request: invalid header name\n"}},
    Row{ProxyError::bad_header_value,
        {400, "bad_request", "bad request: invalid character in header value\n"}},
    Row{ProxyError::space_before_colon,
        {400, "bad_request", "bad request: whitespace before header colon\n"}},
    Row{ProxyError::obs_fold, {400, "bad_request", "bad request: obsolete line folding\n"}},
    Row{ProxyError::bare_cr_or_lf, {400, "bad_request", "bad request: bare CR or LF\n"}},
    Row{ProxyError::header_section_too_large,
        {431, "header_too_large", "request header section too large\n"}},
    Row{ProxyError::too_many_headers, {431, "header_too_large", "too many request header fields\n"}},
    Row{ProxyError::missing_host, {400, "bad_request", "bad request: missing Host header\n"}},
    Row{ProxyError::duplicate_host, {400, "bad_request", "bad request: duplicate Host header\n"}},
    Row{ProxyError::bad_host, {400, "bad_request", "bad request: invalid Host header\n"}},
    Row{ProxyError::bad_content_length, {400, "bad_request", "bad request: invalid Content-Length\n"}},
    Row{ProxyError::duplicate_content_length,
        {400, "bad_request", "bad request: duplicate Content-Length\n"}},
    Row{ProxyError::content_length_with_transfer_encoding,
        {400, "bad_request", "bad request: both Content-Length and Transfer-Encoding\n"}},
    Row{ProxyError::bad_transfer_encoding,
        {400, "bad_request", "bad request: Transfer-Encoding must end in chunked\n"}},
    Row{ProxyError::unsupported_transfer_coding,
        {501, "not_implemented", "transfer coding not implemented\n"}},
    Row{ProxyError::transfer_encoding_in_http10,
        {400, "bad_request", "bad request: Transfer-Encoding in HTTP/1.0\n"}},
    Row{ProxyError::bad_chunk, {400, "bad_request", "bad request: malformed chunked body\n"}},
    Row{ProxyError::body_too_large, {413, "body_too_large", "request body too large\n"}},
    Row{ProxyError::expectation_failed, {417, "bad_request", "expectation not supported\n"}},
    Row{ProxyError::bad_max_forwards, {400, "bad_request", "bad request: invalid Max-Forwards\n"}},
    Row{ProxyError::method_not_supported,
        {405, "method_not_allowed", "method not supported by this proxy\n"}},
    Row{ProxyError::no_route, {404, "no_route", "no route for this request\n"}},
    Row{ProxyError::client_header_timeout, {408, "client_timeout", "request header timeout\n"}},
    Row{ProxyError::client_body_timeout, {408, "client_timeout", "request body timeout\n"}},
    Row{ProxyError::client_closed, {0, "client_closed", ""}},
    Row{ProxyError::request_timeout, {504, "request_timeout", "request timeout\n"}},
    Row{ProxyError::upstream_refused, {502, "upstream_refused", "upstream connection refused\n"}},
    Row{ProxyError::upstream_reset,
        {502, "upstream_reset", "upstream closed the connection before responding\n"}},
    Row{ProxyError::upstream_connect_timeout,
        {503, "upstream_connect_timeout", "upstream connect timeout\n"}},
    Row{ProxyError::upstream_response_timeout, {504, "upstream_timeout", "upstream response timeout\n"}},
    Row{ProxyError::upstream_body_timeout, {504, "upstream_timeout", "upstream body timeout\n"}},
    Row{ProxyError::upstream_bad_response,
        {502, "upstream_bad_response", "upstream sent an invalid response\n"}},
    Row{ProxyError::upstream_closed_mid_body, {502, "upstream_reset", "upstream closed mid-body\n"}},
    Row{ProxyError::upstream_tls_certificate,
        {502, "upstream_tls_certificate", "upstream TLS certificate not accepted\n"}},
    Row{ProxyError::upstream_tls_handshake, {502, "upstream_tls", "upstream TLS handshake failed\n"}},
    Row{ProxyError::overloaded, {503, "overloaded", "proxy overloaded\n"}},
};

constexpr bool rows_in_enum_order() {
  for (std::size_t i = 0; i < kRows.size(); ++i)
    if (static_cast<std::size_t>(kRows[i].error) != i) return false;
  return kRows.size() == static_cast<std::size_t>(ProxyError::kCount);
}
static_assert(rows_in_enum_order(), "kRows must list every ProxyError in enum order");

}  // namespace

const ErrorInfo& error_info(ProxyError error) noexcept {
  auto index = static_cast<std::size_t>(error);
  return kRows[index < kRows.size() ? index : 0].info;
}

}  // namespace apimeter
