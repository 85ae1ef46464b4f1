// Process lifecycle: health endpoints, graceful drain on SIGTERM/SIGINT (readiness first, then the listener,
// then in-flight requests up to the drain timeout), and SIGHUP reloads under load, valid and invalid.
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

using std::chrono::steady_clock;

// Keep-alive clients on `threads` threads, each sending GET `path` in a loop until stop(). A client honours
// Connection: close by reconnecting; anything but a complete 200 counts as a failure.
class LoadLoop {
 public:
  LoadLoop(std::uint16_t port, int threads, std::string path) : port_(port), path_(std::move(path)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
  }
  ~LoadLoop() { stop(); }

  void stop() {
    stopping_ = true;
    for (auto& thread : threads_)
      if (thread.joinable()) thread.join();
  }

  // Milliseconds since the load started, to place failures relative to signals in failure messages.
  long long now_ms() const { return elapsed_ms(start_); }
  std::uint64_t ok() const { return ok_; }
  std::uint64_t failed() const { return failed_; }
  std::uint64_t closed_by_proxy() const { return closed_by_proxy_; }
  std::string failures() const {
    std::lock_guard lock(mutex_);
    std::string text;
    for (const auto& failure : failures_) text += failure + "\n";
    return text;
  }

 private:
  void run() {
    std::optional<RawConnection> connection;
    const std::string request = get_request(path_, "User-Agent: load\r\n");
    while (!stopping_) {
      if (!connection) {
        if (int error = RawConnection::try_connect(port_, 2s, connection); error != 0) {
          fail(std::string("connect: ") + std::strerror(error));
          continue;
        }
      }
      if (!connection->send(request, 2s)) {
        fail("send failed on a kept-alive connection");
        connection.reset();
        continue;
      }
      HttpResponse response = read_final_response(*connection, 3s);
      if (response.status != 200 || !response.complete) {
        fail("status " + std::to_string(response.status) + " " + response.error);
        connection.reset();
        continue;
      }
      ++ok_;
      if (response.connection_has("close")) {
        ++closed_by_proxy_;
        connection.reset();
      }
    }
  }

  void fail(std::string what) {
    ++failed_;
    std::lock_guard lock(mutex_);
    if (failures_.size() < 20) failures_.push_back("at +" + std::to_string(now_ms()) + " ms: " + what);
  }

  std::uint16_t port_;
  std::string path_;
  steady_clock::time_point start_ = steady_clock::now();
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> closed_by_proxy_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> failures_;
  std::vector<std::thread> threads_;
};

bool readyz_is(const Apimeter& proxy, int status, Millis timeout) {
  return poll_until([&] { return admin_status(proxy.admin_port, "/readyz") == status; }, timeout);
}

// ---- Health and drain -------------------------------------------------------------------------------

TEST(LifecycleTest, HealthzAndReadyzAnswer200WhileServing) {
  Stack stack = start_stack();
  EXPECT_EQ(admin_status(stack.proxy.admin_port, "/healthz"), 200);
  EXPECT_EQ(admin_status(stack.proxy.admin_port, "/readyz"), 200);
}

TEST(LifecycleTest, SigtermDrainsUnderLoadWithoutFailingARequest) {
  Stack stack = start_stack({"--drain-delay", "1s", "--drain-timeout", "5s"});
  LoadLoop load(stack.port(), 4, "/bytes/100");
  ASSERT_TRUE(poll_until([&] { return load.ok() >= 50; }, 5s)) << load.failures();

  RawConnection slow = RawConnection::connect(stack.port());
  ASSERT_TRUE(slow.send(get_request("/delay/1500")));
  auto signalled = steady_clock::now();
  long long signalled_at = load.now_ms();
  stack.proxy.proc().send_signal(SIGTERM);
  EXPECT_TRUE(readyz_is(stack.proxy, 503, 500ms)) << "/readyz did not turn 503 at once";
  long long to_unready = elapsed_ms(signalled);
  // Keep the load on for a while inside the 1 s drain delay, as the proxy closes each connection after its
  // response; stop before the listener closes (new connections would then be refused, as they should).
  std::uint64_t at_unready = load.ok();
  EXPECT_TRUE(poll_until([&] { return elapsed_ms(signalled) >= 400 && load.ok() >= at_unready + 30; }, 800ms));
  load.stop();

  HttpResponse slow_response = read_final_response(slow, 5s);
  slow.close();  // the proxy lingers until the client's FIN; closing lets the drain finish at once
  auto exit_code = stack.proxy.proc().wait_exit(10s);
  EXPECT_EQ(load.failed(), 0u) << "SIGTERM at +" << signalled_at << " ms\n" << load.failures();
  EXPECT_GT(load.closed_by_proxy(), 0u) << "no response during the drain carried Connection: close";
  EXPECT_EQ(slow_response.status, 200) << slow_response.error;
  EXPECT_EQ(slow_response.body, "delayed 1500\n");
  EXPECT_EQ(exit_code, 0) << stack.proxy.proc().describe();
  EXPECT_LE(to_unready, 500);
}

TEST(LifecycleTest, ResponsesDuringTheDrainDelayCarryConnectionClose) {
  Stack stack = start_stack({"--drain-delay", "3s"});
  RawConnection kept = RawConnection::connect(stack.port());
  ASSERT_TRUE(kept.send(get_request("/bytes/3")));
  ASSERT_EQ(read_final_response(kept, kIo).status, 200);

  stack.proxy.proc().send_signal(SIGTERM);
  ASSERT_TRUE(readyz_is(stack.proxy, 503, 1s));
  // An existing keep-alive connection is still served, and told this is its last response.
  ASSERT_TRUE(kept.send(get_request("/bytes/3")));
  HttpResponse on_kept = read_final_response(kept, kIo);
  EXPECT_EQ(on_kept.status, 200) << on_kept.error;
  EXPECT_TRUE(on_kept.connection_has("close")) << on_kept.head;
  EXPECT_TRUE(kept.wait_closed(kIo));
  // So is a new connection.
  HttpResponse on_new = round_trip(stack.port(), get_request("/bytes/3"));
  EXPECT_EQ(on_new.status, 200) << on_new.error;
  EXPECT_TRUE(on_new.connection_has("close")) << on_new.head;
}

TEST(LifecycleTest, KeepAliveResponseUnderWayAtSigtermLeavesItsConnectionUsable) {
  // The head of this response left without Connection: close before the signal; the client may therefore
  // send its next request on the connection, and during the drain delay that request must be served.
  Stack stack = start_stack({"--drain-delay", "3s"});
  RawConnection client = RawConnection::connect(stack.port());
  // Two 64 KiB pieces 400 ms apart: the signal arrives between them.
  ASSERT_TRUE(client.send(get_request("/bytes/131072?delay_ms=400")));
  auto head = client.read_until("\r\n\r\n", kIo);
  ASSERT_TRUE(head.has_value());
  ASSERT_EQ(head->find("Connection: close"), std::string::npos) << *head;
  stack.proxy.proc().send_signal(SIGTERM);
  ASSERT_TRUE(readyz_is(stack.proxy, 503, 1s));
  ASSERT_TRUE(client.read_exact(131072, kIo).has_value()) << "the body in flight was cut";
  ASSERT_TRUE(client.send(get_request("/bytes/3")));
  HttpResponse next = read_final_response(client, kIo);
  EXPECT_EQ(next.status, 200) << "the connection was closed after a response that did not announce it: "
                              << next.error;
  EXPECT_TRUE(next.connection_has("close")) << next.head;
}

TEST(LifecycleTest, InFlightRequestCompletesAfterAcceptingStops) {
  Stack stack = start_stack({"--drain-delay", "200ms", "--drain-timeout", "5s"});
  RawConnection slow = RawConnection::connect(stack.port());
  ASSERT_TRUE(slow.send(get_request("/delay/1500")));
  auto signalled = steady_clock::now();
  stack.proxy.proc().send_signal(SIGTERM);

  // Once the drain delay is over, new connections are refused while the slow request still runs.
  bool refused = poll_until(
      [&] {
        std::optional<RawConnection> probe;
        return RawConnection::try_connect(stack.port(), 500ms, probe) == ECONNREFUSED;
      },
      3s, 20ms);
  EXPECT_TRUE(refused) << "the listener still accepted connections after the drain delay";
  EXPECT_TRUE(stack.proxy.proc().running()) << "the proxy exited with a request in flight";

  HttpResponse response = read_final_response(slow, 5s);
  slow.close();
  EXPECT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "delayed 1500\n");
  EXPECT_EQ(stack.proxy.proc().wait_exit(5s), 0) << stack.proxy.proc().describe();
  EXPECT_GE(elapsed_ms(signalled), 1000) << "exited before the in-flight request could finish";
}

TEST(LifecycleTest, IdleKeepAliveConnectionsAreClosedWhenTheDrainDelayEnds) {
  Stack stack = start_stack({"--drain-delay", "200ms", "--drain-timeout", "20s"});
  RawConnection idle = RawConnection::connect(stack.port());
  ASSERT_TRUE(idle.send(get_request("/bytes/3")));
  ASSERT_EQ(read_final_response(idle, kIo).status, 200);
  auto signalled = steady_clock::now();
  stack.proxy.proc().send_signal(SIGTERM);
  EXPECT_TRUE(idle.wait_closed(5s)) << "an idle connection kept the drain waiting";
  // Nothing else is in flight, so the proxy does not wait for the 20 s drain timeout.
  EXPECT_EQ(stack.proxy.proc().wait_exit(5s), 0) << stack.proxy.proc().describe();
  EXPECT_LT(elapsed_ms(signalled), 5000);
}

TEST(LifecycleTest, DrainTimeoutCutsRequestsThatOutlastIt) {
  Stack stack = start_stack({"--drain-delay", "100ms", "--drain-timeout", "500ms"});
  RawConnection hanging = RawConnection::connect(stack.port());
  ASSERT_TRUE(hanging.send(get_request("/hang")));
  auto signalled = steady_clock::now();
  stack.proxy.proc().send_signal(SIGTERM);
  auto exit_code = stack.proxy.proc().wait_exit(10s);
  long long took = elapsed_ms(signalled);
  EXPECT_EQ(exit_code, 0) << stack.proxy.proc().describe();
  EXPECT_GE(took, 550);
  EXPECT_LE(took, 600 + 2000);
  EXPECT_TRUE(hanging.wait_closed(kIo));
  HttpResponse response = read_response(hanging, 100ms);
  EXPECT_EQ(response.status, 0) << "a cut request must not look answered:\n" << response.head;
}

TEST(LifecycleTest, SecondSigtermStopsWithoutWaitingForTheDrain) {
  Stack stack = start_stack({"--drain-delay", "100ms", "--drain-timeout", "30s"});
  RawConnection hanging = RawConnection::connect(stack.port());
  ASSERT_TRUE(hanging.send(get_request("/hang")));
  ASSERT_EQ(round_trip(stack.port(), get_request("/bytes/1")).status, 200);
  stack.proxy.proc().send_signal(SIGTERM);
  ASSERT_TRUE(readyz_is(stack.proxy, 503, 1s) ||
              stack.proxy.proc().wait_for_stderr(json_field_is("message", "draining"), 1s).has_value());
  auto second = steady_clock::now();
  stack.proxy.proc().send_signal(SIGTERM);
  EXPECT_EQ(stack.proxy.proc().wait_exit(5s), 0) << stack.proxy.proc().describe();
  EXPECT_LT(elapsed_ms(second), 3000);
}

TEST(LifecycleTest, SigintDrainsLikeSigterm) {
  Stack stack = start_stack({"--drain-delay", "300ms", "--drain-timeout", "2s"});
  stack.proxy.proc().send_signal(SIGINT);
  EXPECT_TRUE(readyz_is(stack.proxy, 503, 1s));
  EXPECT_EQ(stack.proxy.proc().wait_exit(5s), 0) << stack.proxy.proc().describe();
}

// ---- Reload -----------------------------------------------------------------------------------------

std::string config_text(const DemoUpstream& upstream, std::string_view routes = "") {
  return "upstreams: " + upstream.address() + "\n" + std::string(routes);
}

TEST(ReloadTest, SighupSendsNewRequestsToTheReloadedUpstreamWithoutFailingAny) {
  DemoUpstream first = start_demo_upstream();
  DemoUpstream second = start_demo_upstream();
  std::string config = write_temp_file("apimeter.yaml", config_text(first));
  Apimeter proxy = start_apimeter({"--config", config});
  LoadLoop load(proxy.port, 3, "/bytes/100");
  ASSERT_TRUE(poll_until([&] { return load.ok() >= 30; }, 5s)) << load.failures();
  ASSERT_TRUE(proxy.proc().wait_for_stdout(json_field_is("apimeter.upstream.address", first.address()), kIo));

  RawConnection in_flight = RawConnection::connect(proxy.port);
  ASSERT_TRUE(in_flight.send(get_request("/delay/800")));
  write_temp_file("apimeter.yaml", config_text(second));
  EXPECT_EQ(reload_apimeter(proxy, 5s), "configuration reloaded") << proxy.proc().describe();

  // A request sent after the reload goes to the new upstream.
  std::size_t log_mark = proxy.proc().out().size();
  HttpResponse marked = round_trip(proxy.port, get_request("/bytes/7?after-reload"));
  EXPECT_EQ(marked.status, 200) << marked.error;
  auto line = proxy.proc().out().wait_for(json_field_is("url.path", "/bytes/7"), kIo, log_mark);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(json_field(*line, "apimeter.upstream.address"), second.address()) << *line;
  std::uint64_t at_reload = load.ok();
  EXPECT_TRUE(poll_until([&] { return load.ok() >= at_reload + 30; }, 3s));
  load.stop();

  HttpResponse old = read_final_response(in_flight, 5s);
  EXPECT_EQ(old.status, 200) << "a request in flight during the reload failed: " << old.error;
  EXPECT_EQ(load.failed(), 0u) << load.failures();
}

TEST(ReloadTest, SighupAppliesANewRouteTimeoutToNewRequests) {
  DemoUpstream upstream = start_demo_upstream();
  std::string config = write_temp_file("apimeter.yaml", config_text(upstream, "routes:\n"
                                                                              "  - name: delay\n"
                                                                              "    prefix: /delay/\n"));
  Apimeter proxy = start_apimeter({"--config", config});
  EXPECT_EQ(round_trip(proxy.port, get_request("/delay/600")).status, 200);

  write_temp_file("apimeter.yaml", config_text(upstream, "routes:\n"
                                                         "  - name: delay\n"
                                                         "    prefix: /delay/\n"
                                                         "    upstream_response_timeout: 200ms\n"));
  ASSERT_EQ(reload_apimeter(proxy, 5s), "configuration reloaded") << proxy.proc().describe();
  HttpResponse response = round_trip(proxy.port, get_request("/delay/600"));
  EXPECT_EQ(response.status, 504) << response.error;
  EXPECT_EQ(response.body, "upstream response timeout\n");
}

TEST(ReloadTest, InvalidConfigOnSighupIsRejectedAndTheOldOneStays) {
  DemoUpstream upstream = start_demo_upstream();
  std::string config = write_temp_file("apimeter.yaml", config_text(upstream, "routes:\n"
                                                                              "  - name: delay\n"
                                                                              "    prefix: /delay/\n"
                                                                              "    upstream_response_timeout: 200ms\n"));
  Apimeter proxy = start_apimeter({"--config", config});
  LoadLoop load(proxy.port, 2, "/bytes/100");
  ASSERT_TRUE(poll_until([&] { return load.ok() >= 20; }, 5s)) << load.failures();

  write_temp_file("apimeter.yaml", "upstreams: " + upstream.address() +
                                       "\ntimeouts:\n  upstream_response: fast\nroutes:\n  - name: delay\n"
                                       "    prefix: delay\n");
  const std::size_t before = proxy.proc().err().size();
  EXPECT_TRUE(reload_apimeter(proxy, 5s).starts_with("reload rejected")) << proxy.proc().describe();
  // Each problem is reported with its place in the file.
  EXPECT_TRUE(proxy.proc().err().wait_for(contains("apimeter.yaml:3:22: "), 1s, before).has_value())
      << proxy.proc().err().text();
  EXPECT_TRUE(proxy.proc().err().wait_for(contains("apimeter.yaml:6:13: "), 1s, before).has_value())
      << proxy.proc().err().text();

  std::uint64_t at_reject = load.ok();
  EXPECT_TRUE(poll_until([&] { return load.ok() >= at_reject + 20; }, 3s));
  load.stop();
  EXPECT_EQ(load.failed(), 0u) << load.failures();
  EXPECT_TRUE(proxy.proc().running());
  // The old route timeout is still in force.
  HttpResponse response = round_trip(proxy.port, get_request("/delay/600"));
  EXPECT_EQ(response.status, 504) << response.error;
}

TEST(ReloadTest, SighupWithoutAConfigFileIsIgnored) {
  Stack stack = start_stack();
  std::size_t before = stack.proxy.proc().err().size();
  stack.proxy.proc().send_signal(SIGHUP);
  EXPECT_TRUE(stack.proxy.proc().err().wait_for(contains("SIGHUP ignored"), kIo, before).has_value())
      << stack.proxy.proc().err().text();
  EXPECT_TRUE(stack.proxy.proc().running());
  EXPECT_EQ(round_trip(stack.port(), get_request("/bytes/3")).status, 200);
}

}  // namespace
}  // namespace apimeter::test
