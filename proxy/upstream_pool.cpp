// Idle upstream connections, LIFO per endpoint, with a closed-by-peer probe and an idle-timeout sweep.
#include "proxy/upstream_pool.hpp"

#include <algorithm>

namespace apimeter {
namespace {

void close_quietly(UpstreamConnection& connection) noexcept {
  ErrorCode ignored;
  connection.socket.close(ignored);
}

}  // namespace

UpstreamConnectionPtr UpstreamPool::take(const tcp::endpoint& endpoint) noexcept {
  auto now = std::chrono::steady_clock::now();
  for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
    if ((*it)->endpoint != endpoint) continue;
    UpstreamConnectionPtr connection = std::move(*it);
    idle_.erase(std::next(it).base());
    connection->pooled = false;
    ++connection->pool_generation;
    ErrorCode ignored;
    connection->socket.cancel(ignored);  // ends the probe; its completion sees the new generation
    if (settings_.idle_timeout.count() > 0 && now - connection->idle_since >= settings_.idle_timeout) {
      close_quietly(*connection);
      return take(endpoint);
    }
    return connection;
  }
  return nullptr;
}

void UpstreamPool::put(UpstreamConnectionPtr connection) noexcept {
  if (settings_.max_idle == 0 || !connection->socket.is_open()) {
    close_quietly(*connection);
    return;
  }
  std::size_t same_endpoint = 0;
  for (const auto& idle : idle_) same_endpoint += idle->endpoint == connection->endpoint;
  if (same_endpoint >= settings_.max_idle) {
    close_quietly(*connection);
    return;
  }
  connection->pooled = true;
  connection->idle_since = std::chrono::steady_clock::now();
  try {
    idle_.push_back(connection);
  } catch (...) {
    close_quietly(*connection);
    return;
  }
  start_probe(connection);
}

void UpstreamPool::start_probe(const UpstreamConnectionPtr& connection) noexcept {
  std::uint32_t generation = connection->pool_generation;
  connection->socket.async_read_some(
      asio::buffer(&connection->probe, 1), [this, connection, generation](const ErrorCode& ec, std::size_t) {
        if (!connection->pooled || connection->pool_generation != generation) return;
        if (ec == asio::error::operation_aborted) return;
        // EOF, reset or unexpected bytes while idle: the connection cannot carry another exchange.
        remove(connection.get());
        close_quietly(*connection);
      });
}

void UpstreamPool::remove(const UpstreamConnection* connection) noexcept {
  auto it = std::find_if(idle_.begin(), idle_.end(), [&](const auto& c) { return c.get() == connection; });
  if (it == idle_.end()) return;
  (*it)->pooled = false;
  idle_.erase(it);
}

void UpstreamPool::sweep(std::chrono::steady_clock::time_point now) noexcept {
  if (settings_.idle_timeout.count() == 0) return;
  auto expired = [&](const UpstreamConnectionPtr& c) {
    if (now - c->idle_since < settings_.idle_timeout) return false;
    c->pooled = false;
    close_quietly(*c);
    return true;
  };
  idle_.erase(std::remove_if(idle_.begin(), idle_.end(), expired), idle_.end());
}

void UpstreamPool::close_all() noexcept {
  for (auto& c : idle_) {
    c->pooled = false;
    close_quietly(*c);
  }
  idle_.clear();
}

}  // namespace apimeter
