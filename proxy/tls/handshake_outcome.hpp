// What a finished or failed TLS handshake is counted as: the failure reason from the error OpenSSL (or the
// socket) gave, and the protocol version of a successful one. Pure: unit-tested with made-up error codes.
#pragma once

#include "common/asio_types.hpp"
#include "metrics/worker_metrics.hpp"

namespace apimeter {

// `verify_result` is SSL_get_verify_result() of the failed session (X509_V_OK when no certificate was
// verified); it tells an expired client certificate from one that does not chain to the CA.
metrics::TlsHandshakeFailure classify_handshake_failure(const ErrorCode& ec, long verify_result) noexcept;

// SSL_version() of the session: TLS1_2_VERSION, TLS1_3_VERSION, ...
metrics::TlsVersionLabel tls_version_label(int ssl_version) noexcept;

}  // namespace apimeter
