// Per-worker keep-alive pool of upstream connections. An idle pooled connection keeps a one-byte read
// pending, so an upstream that closes it (or sends stray bytes) is noticed and the connection dropped
// before anyone reuses it. Single-threaded: owned by one worker; never shared across workers.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "proxy/asio_types.hpp"
#include "proxy/limits.hpp"

namespace apimeter {

struct UpstreamConnection {
  explicit UpstreamConnection(asio::io_context& io) : socket(io.get_executor()) {}
  Socket socket;
  tcp::endpoint endpoint;
  std::chrono::steady_clock::time_point idle_since;
  std::uint32_t pool_generation = 0;  // bumped when taken, so a stale probe completion is ignored
  bool pooled = false;
  char probe = 0;
};

using UpstreamConnectionPtr = std::shared_ptr<UpstreamConnection>;

class UpstreamPool {
 public:
  explicit UpstreamPool(PoolSettings settings) : settings_(settings) {}

  // A live idle connection to `endpoint`, most recently used first; nullptr when none.
  UpstreamConnectionPtr take(const tcp::endpoint& endpoint) noexcept;
  // Keeps a connection whose last exchange ended cleanly; closes it when the pool is full.
  void put(UpstreamConnectionPtr connection) noexcept;
  // Closes idle connections past the idle timeout; called from the worker's periodic tick.
  void sweep(std::chrono::steady_clock::time_point now) noexcept;
  void close_all() noexcept;
  void set_settings(PoolSettings settings) noexcept { settings_ = settings; }

  std::size_t idle_count() const noexcept { return idle_.size(); }

 private:
  void start_probe(const UpstreamConnectionPtr& connection) noexcept;
  void remove(const UpstreamConnection* connection) noexcept;

  PoolSettings settings_;
  std::vector<UpstreamConnectionPtr> idle_;  // oldest first
};

}  // namespace apimeter
