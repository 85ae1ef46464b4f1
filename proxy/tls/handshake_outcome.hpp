// What a finished or failed TLS handshake is counted as, on the listener and with the upstreams: the
// failure reason from the error OpenSSL (or the socket) gave, and the protocol version of a successful one.
// Pure: unit-tested with made-up error codes.
#pragma once

#include <string_view>

#include "common/asio_types.hpp"
#include "metrics/worker_metrics.hpp"

namespace apimeter {

// `verify_result` is SSL_get_verify_result() of the failed session (X509_V_OK when no certificate was
// verified); it tells an expired client certificate from one that does not chain to the CA.
metrics::TlsHandshakeFailure classify_handshake_failure(const ErrorCode& ec, long verify_result) noexcept;

// How a TLS handshake with an upstream failed: the error_type of apimeter_upstream_connect_errors_total
// (tls_closed, tls_protocol: no version, cipher or ALPN in common, tls_certificate_expired,
// tls_certificate_name_mismatch, tls_certificate_untrusted, tls_client_certificate_rejected: the upstream
// refused our client certificate or wanted one, tls_peer_alert, tls_error), and whether it was the
// upstream's certificate we did not accept.
struct UpstreamTlsFailure {
  std::string_view error_type;
  bool certificate = false;
};
UpstreamTlsFailure classify_upstream_tls_failure(const ErrorCode& ec, long verify_result) noexcept;

// SSL_version() of the session: TLS1_2_VERSION, TLS1_3_VERSION, ...
metrics::TlsVersionLabel tls_version_label(int ssl_version) noexcept;

}  // namespace apimeter
