// The demo upstream's worker: binds one acceptor, accepts connections into sessions, and runs one
// io_context on one thread. It owns no request logic; that is the session's.
#include "tests/support/demo_upstream_worker.hpp"

#include <fmt/format.h>
#include <boost/asio/socket_base.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>

#include "tests/support/demo_upstream_session.hpp"

namespace apimeter::demo {
namespace {

// An odd 64-bit constant: gives every worker a PRNG stream far from worker 0's.
constexpr std::uint64_t kSeedStride = 0x632be59bd9b4e019ULL;
// How long to stop accepting when out of file descriptors, instead of spinning on the error.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

using ReusePort = boost::asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

}  // namespace

Worker::Worker(unsigned index, std::uint64_t seed, Shape shape, EventSink* events, OrderIntake const* intake,
               FaultInjector& faults)
    : index_(index),
      api_(make_api(shape, seed + index * kSeedStride, events, intake)),
      faults_(faults),
      // A stream of its own, so toggling a fault never shifts the API's latencies.
      fault_prng_(mix(seed + index * kSeedStride)) {}

boost::beast::error_code Worker::listen(tcp::endpoint const& endpoint, bool reuse_port) {
  boost::beast::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec && reuse_port) acceptor_.set_option(ReusePort(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  return ec;
}

tcp::endpoint Worker::local_endpoint() const {
  boost::beast::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void Worker::run() {
  do_accept();
  for (;;) {
    // A handler that throws (std::bad_alloc, say) loses its connection, not the worker.
    try {
      ioc_.run();
      return;
    } catch (std::exception const& e) {
      fmt::print(stderr, "demo_upstream: worker {}: {}\n", index_, e.what());
    }
  }
}

void Worker::do_accept() {
  acceptor_.async_accept(
      ioc_, [this](boost::beast::error_code ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
}

void Worker::on_accept(boost::beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted) return;
  if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space || ec == net::error::no_memory) {
    fmt::print(stderr, "demo_upstream: worker {}: accept: {}; pausing\n", index_, ec.message());
    accept_pause_.expires_after(kAcceptPause);
    return accept_pause_.async_wait([this](boost::beast::error_code ec) { on_accept_pause(ec); });
  }
  // Other accept errors (a connection reset while queued, say) concern that one connection only.
  if (!ec) std::make_shared<Session>(std::move(socket), *api_, faults_, fault_prng_, date_)->run();
  do_accept();
}

void Worker::on_accept_pause(boost::beast::error_code ec) {
  if (ec) return;
  do_accept();
}

}  // namespace apimeter::demo
