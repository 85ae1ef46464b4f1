// The listener's TLS context, compiled from tls.* when a snapshot is built (off the workers: it reads
// files): certificate chain and key, client CAs, versions, ciphers, ALPN and session tickets. Workers
// share it through the snapshot; every connection's SSL keeps its own reference to the context it started
// with, so a reload changes what new connections get and nothing else.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "control/config.hpp"

namespace apimeter {

// Session-ticket keys (name, HMAC and AES keys, in OpenSSL's 80-byte layout), drawn once per process and
// carried from snapshot to snapshot, so a client's ticket still resumes after a certificate reload.
struct TlsTicketKeys {
  std::array<unsigned char, 80> bytes{};
  static std::shared_ptr<const TlsTicketKeys> generate();  // nullptr when the random generator fails
};

struct TlsServerContext {
  explicit TlsServerContext(boost::asio::ssl::context c) : context(std::move(c)) {}
  boost::asio::ssl::context context;
  double certificate_not_after = 0;  // unix seconds, of the served (first) certificate in the chain
  std::string certificate_subject;   // RFC 2253, for the log line of a load or reload
};

// Builds the context for `tls` (which must be enabled). Returns nullptr and says why in `problems` (each
// message names the setting and the file) when a file cannot be read, the key does not match the
// certificate, or the cipher list selects nothing.
std::shared_ptr<TlsServerContext> build_tls_server_context(const TlsConfig& tls, const TlsTicketKeys& keys,
                                                           std::vector<Diagnostic>& problems);

// The RFC 2253 subject of `certificate` ("CN=crm,O=Acme") written into `out`; the part that fits.
std::size_t certificate_subject(const void* certificate /* X509* */, char* out,
                                std::size_t capacity) noexcept;

}  // namespace apimeter
