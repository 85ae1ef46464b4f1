// Idle upstream connections, LIFO per endpoint. Liveness is checked by a non-blocking MSG_PEEK
// (Transport::idle_peer_spoke): on take() for connections idle long enough that the upstream may have
// closed them, and in the sweep.
#include "proxy/upstream_pool.hpp"

#include <algorithm>

namespace apimeter {
namespace {

// A connection reused sooner than this is not peeked: a hot connection costs no syscall, and the rare
// upstream that closes within this window is covered by the one retry of idempotent requests.
constexpr auto kPeekOnTakeAfter = std::chrono::milliseconds(100);
// The sweep peeks connections idle this long, so closed ones release their descriptors promptly.
constexpr auto kPeekOnSweepAfter = std::chrono::seconds(1);

void close_quietly(UpstreamConnection& connection) noexcept {
  ErrorCode ignored;
  connection.transport.socket().close(ignored);
}

}  // namespace

UpstreamConnectionPtr UpstreamPool::take(const tcp::endpoint& endpoint) noexcept {
  const auto now = std::chrono::steady_clock::now();
  for (std::size_t i = idle_.size(); i-- > 0;) {
    if (idle_[i]->endpoint != endpoint) continue;
    UpstreamConnectionPtr connection = std::move(idle_[i]);
    idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
    const auto idle = now - connection->idle_since;
    bool expired = settings_.idle_timeout.count() > 0 && idle >= settings_.idle_timeout;
    if (expired || (idle >= kPeekOnTakeAfter && connection->transport.idle_peer_spoke())) {
      close_quietly(*connection);
      continue;  // the next older connection to the same endpoint, if any
    }
    return connection;
  }
  return nullptr;
}

void UpstreamPool::put(UpstreamConnectionPtr connection) noexcept {
  if (settings_.max_idle == 0 || !connection->transport.socket().is_open() ||
      connection->tls_context != tls_context_) {
    close_quietly(*connection);
    return;
  }
  std::size_t same_endpoint = 0;
  for (const auto& idle : idle_) same_endpoint += idle->endpoint == connection->endpoint;
  if (same_endpoint >= settings_.max_idle) {
    close_quietly(*connection);
    return;
  }
  connection->idle_since = std::chrono::steady_clock::now();
  try {
    idle_.push_back(std::move(connection));
  } catch (...) {
    close_quietly(*connection);
  }
}

void UpstreamPool::sweep(std::chrono::steady_clock::time_point now) noexcept {
  auto dead = [&](const UpstreamConnectionPtr& c) {
    const auto idle = now - c->idle_since;
    bool expired = settings_.idle_timeout.count() > 0 && idle >= settings_.idle_timeout;
    if (!expired && !(idle >= kPeekOnSweepAfter && c->transport.idle_peer_spoke())) return false;
    close_quietly(*c);
    return true;
  };
  idle_.erase(std::remove_if(idle_.begin(), idle_.end(), dead), idle_.end());
}

void UpstreamPool::close_all() noexcept {
  for (auto& c : idle_) close_quietly(*c);
  idle_.clear();
}

}  // namespace apimeter
