// Per worker: the newest resumable TLS session of each upstream endpoint, so that a new upstream
// connection resumes (one round trip, no certificate chain to verify) instead of a full handshake, as
// HAProxy and Envoy do. OpenSSL hands sessions over through the client context's new-session callback,
// which finds the cache through the slot its connection attached to the SSL. Bounded by the configured
// endpoints; nothing a client sends adds an entry. Worker thread only.
#pragma once

#include <cstdint>
#include <vector>

#include <openssl/ssl.h>

#include "common/asio_types.hpp"

namespace apimeter {

class TlsSessionCache {
 public:
  TlsSessionCache() { entries_.reserve(8); }
  ~TlsSessionCache() { clear(); }
  TlsSessionCache(const TlsSessionCache&) = delete;
  TlsSessionCache& operator=(const TlsSessionCache&) = delete;

  // The session to offer on a new connection to `endpoint` made with client context `context`; nullptr
  // when there is none. Still owned by the cache (SSL_set_session takes its own reference).
  SSL_SESSION* find(const tcp::endpoint& endpoint, std::uint64_t context) const noexcept;
  // Keeps `session` (owning it) as the one to offer next; replaces and frees the endpoint's older one.
  // False when it could not be kept (not resumable, or made under an older context than the entry's): the
  // caller still owns it.
  bool remember(const tcp::endpoint& endpoint, std::uint64_t context, SSL_SESSION* session) noexcept;
  // A handshake with `endpoint` failed: its session is not offered again.
  void forget(const tcp::endpoint& endpoint) noexcept;
  void clear() noexcept;
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct Entry {
    tcp::endpoint endpoint;
    std::uint64_t context;
    SSL_SESSION* session;
  };
  std::vector<Entry> entries_;
};

// What the new-session callback needs of the connection a session arrived on; lives in the connection,
// attached to its SSL for the connection's life.
struct TlsSessionSlot {
  TlsSessionCache* cache = nullptr;
  tcp::endpoint endpoint;
  std::uint64_t context = 0;
};

}  // namespace apimeter
