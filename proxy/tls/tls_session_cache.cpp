// One entry per endpoint, newest session wins: TLS 1.3 servers send two tickets after each handshake and
// any of them resumes; keeping more would only hold memory.
#include "proxy/tls/tls_session_cache.hpp"

#include <algorithm>

namespace apimeter {

SSL_SESSION* TlsSessionCache::find(const tcp::endpoint& endpoint, std::uint64_t context) const noexcept {
  for (const Entry& e : entries_)
    if (e.endpoint == endpoint) return e.context == context ? e.session : nullptr;
  return nullptr;
}

bool TlsSessionCache::remember(const tcp::endpoint& endpoint, std::uint64_t context,
                               SSL_SESSION* session) noexcept {
  if (SSL_SESSION_is_resumable(session) != 1) return false;
  for (Entry& e : entries_) {
    if (e.endpoint != endpoint) continue;
    // A connection still running under the context of an earlier snapshot must not displace the
    // sessions of the one in force (context ids only grow).
    if (context < e.context) return false;
    SSL_SESSION_free(e.session);
    e.context = context;
    e.session = session;
    return true;
  }
  try {
    entries_.push_back({endpoint, context, session});
  } catch (...) {
    return false;
  }
  return true;
}

void TlsSessionCache::forget(const tcp::endpoint& endpoint) noexcept {
  auto it =
      std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.endpoint == endpoint; });
  if (it == entries_.end()) return;
  SSL_SESSION_free(it->session);
  entries_.erase(it);
}

void TlsSessionCache::clear() noexcept {
  for (Entry& e : entries_) SSL_SESSION_free(e.session);
  entries_.clear();
}

}  // namespace apimeter
