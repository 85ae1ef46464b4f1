// TLS as a client, shared by the upstream connections and the OTLP exporter: how a client context learns
// whom to trust (a CA file, or the system's store) and how a session is told whom it talks to (SNI and
// the name or address the peer's certificate must carry).
#pragma once

#include <string>
#include <string_view>

#include <boost/asio/ssl/context.hpp>

namespace apimeter {

// Loads `ca_file` (empty: the system's CA store) into `context` and makes the peer's certificate chain
// mandatory. False with `error` naming `setting` and the file when it cannot be loaded.
bool trust_certificates(boost::asio::ssl::context& context, const std::string& ca_file,
                        std::string_view setting, std::string& error);

// Before the handshake of `session` (an SSL*): sends `peer` as SNI when it is a name (never for an address,
// RFC 6066 §3) and requires the certificate to match it (a DNS name, wildcards only as the whole leftmost
// label, or an IP address SAN). False when OpenSSL cannot take it (out of memory).
bool expect_peer(void* session, const std::string& peer) noexcept;

}  // namespace apimeter
