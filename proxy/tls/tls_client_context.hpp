// The upstream side's TLS context, compiled from upstream_tls.* when a snapshot is built (off the workers:
// it reads files): whom to trust, the client certificate we present, versions, ciphers, ALPN, and the
// hook through which each worker keeps a resumable session per upstream endpoint (TlsSessionCache).
// Workers share it through the snapshot; each upstream connection's SSL holds its own reference.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "control/config.hpp"
#include "proxy/tls/tls_session_cache.hpp"

namespace apimeter {

struct TlsClientContext {
  explicit TlsClientContext(boost::asio::ssl::context c) : context(std::move(c)) {}
  boost::asio::ssl::context context;
  // Unique per build: sessions and pooled connections made under another context are never reused with
  // this one (a reload may have changed whom to trust).
  std::uint64_t id = 0;
};

// Builds the context for `tls` (which must be enabled). Returns nullptr and says why in `problems` (each
// message names the setting and the file) when the CA file or the client certificate cannot be loaded.
std::shared_ptr<TlsClientContext> build_tls_client_context(const UpstreamTlsConfig& tls,
                                                           std::vector<Diagnostic>& problems);

// Ties `session` (an SSL* of this context) to `slot`, so the sessions the upstream hands out on it go to
// the slot's cache. The slot must outlive the SSL's use.
void attach_session_slot(SSL* session, TlsSessionSlot* slot) noexcept;

}  // namespace apimeter
