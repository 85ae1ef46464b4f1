// One worker of the demo upstream: a thread's io_context, its acceptor, and the per-thread state that the
// sessions on it share (the API with its PRNG, the fault PRNG, the Date cache). No other thread touches it,
// except to stop it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

#include <cstdint>
#include <memory>

#include "tests/support/demo_upstream_http_date.hpp"
#include "tests/support/demo_upstream_api.hpp"
#include "tests/support/demo_upstream_fault.hpp"

namespace apimeter::demo {

class Worker {
 public:
  // Worker 0 draws from `seed` itself, so a single-threaded run is reproducible from --seed alone.
  // `events`, `intake` and `faults` are process-wide and outlive the worker (see make_api).
  Worker(unsigned index, std::uint64_t seed, Shape shape, EventSink* events, OrderIntake const* intake,
         FaultInjector& faults);

  // Opens, binds and listens. Main thread, before run(). With `reuse_port` every worker binds the same
  // endpoint and the kernel spreads new connections over their acceptors.
  boost::beast::error_code listen(boost::asio::ip::tcp::endpoint const& endpoint, bool reuse_port);
  boost::asio::ip::tcp::endpoint local_endpoint() const;

  // Accepts and serves until stop(). On the worker's own thread.
  void run();
  // Any thread.
  void stop() { ioc_.stop(); }

 private:
  void do_accept();
  void on_accept(boost::beast::error_code ec, boost::asio::ip::tcp::socket socket);
  void on_accept_pause(boost::beast::error_code ec);

  unsigned index_;
  // Declared before ioc_: sessions hold references to them and die with ioc_'s pending handlers.
  std::unique_ptr<Api> api_;
  FaultInjector& faults_;
  Prng fault_prng_;
  HttpDate date_;
  boost::asio::io_context ioc_{1};
  boost::asio::ip::tcp::acceptor acceptor_{ioc_};
  boost::asio::steady_timer accept_pause_{ioc_};
};

}  // namespace apimeter::demo
