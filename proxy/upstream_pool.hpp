// Per-worker keep-alive pool of upstream connections, cleartext or TLS. No operation is kept pending on an
// idle connection (with Asio that would cost a syscall per request); instead a connection idle for a while
// is peeked before reuse, and the periodic sweep peeks and drops connections the upstream closed.
// Single-threaded: owned by one worker; never shared across workers.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/asio_types.hpp"
#include "control/limits.hpp"
#include "proxy/tls/tls_session_cache.hpp"
#include "proxy/transport/transport.hpp"

namespace apimeter {

struct UpstreamConnection {
  explicit UpstreamConnection(asio::io_context& io) : transport(Socket(io.get_executor())) {}
  TlsSessionSlot session_slot;  // over TLS: where the sessions the upstream issues on it go (before the
                                // transport, so it outlives the SSL that points at it)
  Transport transport;
  tcp::endpoint endpoint;
  std::uint64_t tls_context = 0;  // TlsClientContext::id it was made with; 0 = cleartext
  std::chrono::steady_clock::time_point idle_since;
};

using UpstreamConnectionPtr = std::shared_ptr<UpstreamConnection>;

class UpstreamPool {
 public:
  explicit UpstreamPool(PoolSettings settings) : settings_(settings) { idle_.reserve(64); }

  // A live idle connection to `endpoint`, most recently used first; nullptr when none.
  UpstreamConnectionPtr take(const tcp::endpoint& endpoint) noexcept;
  // Keeps a connection whose last exchange ended cleanly; closes it when the pool is full, or when it was
  // made under another TLS client context than the one in force (cleartext after a reload to TLS, or the
  // other way round, or trusting other CAs).
  void put(UpstreamConnectionPtr connection) noexcept;
  // Closes idle connections past the idle timeout or closed by the upstream; the worker's periodic tick.
  void sweep(std::chrono::steady_clock::time_point now) noexcept;
  void close_all() noexcept;
  void set_settings(PoolSettings settings) noexcept { settings_ = settings; }
  // The TlsClientContext::id new connections are made with from now on; 0 = cleartext.
  void set_tls_context(std::uint64_t id) noexcept { tls_context_ = id; }

  std::size_t idle_count() const noexcept { return idle_.size(); }

 private:
  PoolSettings settings_;
  std::uint64_t tls_context_ = 0;
  std::vector<UpstreamConnectionPtr> idle_;  // oldest first
};

}  // namespace apimeter
