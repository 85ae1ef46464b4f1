// Limits and timeouts: each limit's status and one-line body, and each timeout firing near its configured
// value (short ones here, 300 ms to 1 s, with generous upper bounds for a loaded 2-core machine).
#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

using std::chrono::steady_clock;

// A failure message's upper bound on timing: a timeout must fire, not merely eventually.
constexpr long long kSlack = 1500;

TEST(LimitsTest, DeclaredBodyOverTheLimitGets413BeforeItIsSent) {
  Stack stack = start_stack({"--max-request-body-bytes", "1KiB"});
  RawConnection client = RawConnection::connect(stack.port());
  // Only the head: the proxy can refuse on the declared length alone.
  ASSERT_TRUE(client.send("POST /sink HTTP/1.1\r\nHost: test.local\r\nContent-Length: 1025\r\n\r\n"));
  HttpResponse response = read_final_response(client, kIo);
  EXPECT_EQ(response.status, 413) << response.error;
  EXPECT_EQ(response.body, "request body too large\n");
  EXPECT_TRUE(response.connection_has("close")) << response.head;
}

TEST(LimitsTest, BodyExactlyAtTheLimitIsForwarded) {
  Stack stack = start_stack({"--max-request-body-bytes", "1KiB"});
  HttpResponse response = round_trip(stack.port(), body_request("POST", "/sink", std::string(1024, 'x')));
  EXPECT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "received 1024\n");
}

TEST(LimitsTest, ChunkedBodyGrowingOverTheLimitGets413) {
  Stack stack = start_stack({"--max-request-body-bytes", "1KiB"});
  RawConnection client = RawConnection::connect(stack.port());
  std::string chunk = "258\r\n" + std::string(600, 'x') + "\r\n";  // 0x258 = 600
  ASSERT_TRUE(client.send("POST /sink HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk));
  ASSERT_TRUE(client.send(chunk));  // 1200 bytes: over the limit; the last chunk never comes
  HttpResponse response = read_final_response(client, kIo);
  EXPECT_EQ(response.status, 413) << response.error;
  EXPECT_EQ(response.body, "request body too large\n");
  EXPECT_TRUE(client.wait_closed(kIo));
}

TEST(LimitsTest, RequestTargetOverTheLimitGets414) {
  Stack stack = start_stack({"--max-uri-bytes", "1KiB"});
  HttpResponse response = round_trip(stack.port(), get_request("/headers?" + std::string(1100, 'q')));
  EXPECT_EQ(response.status, 414) << response.error;
  EXPECT_EQ(response.body, "request target too long\n");
}

TEST(LimitsTest, RequestTargetAtTheLimitIsForwarded) {
  Stack stack = start_stack({"--max-uri-bytes", "1KiB"});
  std::string target = "/headers?" + std::string(1024 - 9, 'q');
  HttpResponse response = round_trip(stack.port(), get_request(target));
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_TRUE(response.body.starts_with("GET " + target + " HTTP/1.1\n"));
}

TEST(LimitsTest, HeaderSectionOverTheLimitGets431) {
  Stack stack = start_stack({"--max-uri-bytes", "1KiB", "--max-request-header-bytes", "2KiB"});
  HttpResponse response = round_trip(stack.port(), get_request("/headers", "X-Big: " + std::string(3000, 'b') + "\r\n"));
  EXPECT_EQ(response.status, 431) << response.error;
  EXPECT_EQ(response.body, "request header section too large\n");
}

TEST(LimitsTest, TooManyHeaderFieldsGets431) {
  Stack stack = start_stack({"--max-request-headers", "10"});
  std::string fields;
  for (int i = 0; i < 20; ++i) fields += "X-F" + std::to_string(i) + ": v\r\n";
  HttpResponse response = round_trip(stack.port(), get_request("/headers", fields));
  EXPECT_EQ(response.status, 431) << response.error;
  EXPECT_EQ(response.body, "too many request header fields\n");
}

TEST(LimitsTest, ExpectationOtherThan100ContinueGets417) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), body_request("POST", "/sink", "abc", "Expect: 200-ok\r\n"));
  EXPECT_EQ(response.status, 417) << response.error;
  EXPECT_EQ(response.body, "expectation not supported\n");
}

TEST(LimitsTest, ConnectMethodGets405) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n");
  EXPECT_EQ(response.status, 405) << response.error;
  EXPECT_EQ(response.body, "method not supported by this proxy\n");
}

TEST(LimitsTest, Http2VersionGets505) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), "GET /headers HTTP/2.0\r\nHost: test.local\r\n\r\n");
  EXPECT_EQ(response.status, 505) << response.error;
  EXPECT_EQ(response.body, "HTTP version not supported\n");
}

TEST(LimitsTest, Http12VersionGets505) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), "GET /headers HTTP/1.2\r\nHost: test.local\r\n\r\n");
  EXPECT_EQ(response.status, 505) << response.error;
  EXPECT_EQ(response.body, "HTTP version not supported\n");
}

TEST(LimitsTest, TransferCodingOtherThanChunkedBeforeChunkedGets501) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(
      stack.port(), get_request("/sink", "Transfer-Encoding: gzip, chunked\r\n", "POST") + "0\r\n\r\n");
  EXPECT_EQ(response.status, 501) << response.error;
  EXPECT_EQ(response.body, "transfer coding not implemented\n");
}

TEST(TimeoutsTest, HeadTrickledSlowerThanTheHeaderTimeoutGets408) {
  Stack stack = start_stack({"--client-header-timeout", "500ms"});
  RawConnection client = RawConnection::connect(stack.port());
  auto start = steady_clock::now();
  ASSERT_TRUE(client.send("GET /bytes/5 HTTP/1.1\r\nHost: test.local\r\n"));
  // Slowloris: a new field line every 100 ms, never the end of the head, until the proxy answers.
  for (int i = 0; i < 50 && client.buffer().empty() && !client.peer_closed(); ++i) {
    if (!client.send("X-Trickle-" + std::to_string(i) + ": 1\r\n")) break;
    client.read_some(100ms);
  }
  HttpResponse response = read_final_response(client, kIo);
  long long took = elapsed_ms(start);
  EXPECT_EQ(response.status, 408) << response.error;
  EXPECT_EQ(response.body, "request header timeout\n");
  EXPECT_GE(took, 450);
  EXPECT_LE(took, 500 + kSlack);
  EXPECT_TRUE(client.wait_closed(kIo));
}

TEST(TimeoutsTest, StalledRequestBodyGets408) {
  Stack stack = start_stack({"--client-body-timeout", "500ms"});
  RawConnection client = RawConnection::connect(stack.port());
  auto start = steady_clock::now();
  ASSERT_TRUE(client.send("POST /sink HTTP/1.1\r\nHost: test.local\r\nContent-Length: 100\r\n\r\n0123456789"));
  HttpResponse response = read_final_response(client, 5s);
  long long took = elapsed_ms(start);
  EXPECT_EQ(response.status, 408) << response.error;
  EXPECT_EQ(response.body, "request body timeout\n");
  EXPECT_GE(took, 450);
  EXPECT_LE(took, 500 + kSlack);
  EXPECT_TRUE(client.wait_closed(kIo));
}

TEST(TimeoutsTest, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  Stack stack = start_stack({"--client-idle-timeout", "300ms"});
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(get_request("/bytes/5")));
  HttpResponse response = read_final_response(client, kIo);
  ASSERT_EQ(response.status, 200) << response.error;
  auto start = steady_clock::now();
  EXPECT_TRUE(client.wait_closed(5s));
  long long took = elapsed_ms(start);
  EXPECT_GE(took, 250);
  EXPECT_LE(took, 300 + kSlack);
  EXPECT_TRUE(client.buffer().empty()) << "unexpected bytes: " << client.buffer();
}

TEST(TimeoutsTest, ConnectionThatSendsNothingIsClosedAfterTheHeaderTimeoutNotTheIdleOne) {
  Stack stack = start_stack({"--client-header-timeout", "300ms", "--client-idle-timeout", "30s"});
  RawConnection silent = RawConnection::connect(stack.port());
  auto start = steady_clock::now();
  EXPECT_TRUE(silent.wait_closed(5s));
  long long took = elapsed_ms(start);
  EXPECT_GE(took, 250);
  EXPECT_LE(took, 300 + kSlack);
  EXPECT_TRUE(silent.buffer().empty()) << "unexpected bytes: " << silent.buffer();
  // A keep-alive connection between requests still gets the idle timeout.
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(get_request("/bytes/5")));
  ASSERT_EQ(read_final_response(client, kIo).status, 200);
  EXPECT_FALSE(client.wait_closed(1s));
}

// Opens `count` connections that send nothing, one at a time, each counted by the proxy before the next.
std::vector<RawConnection> open_silent_connections(const Stack& stack, int count) {
  std::vector<RawConnection> silent;
  for (int i = 0; i < count; ++i) {
    silent.push_back(RawConnection::connect(stack.port()));
    std::optional<double> open;
    EXPECT_TRUE(poll_until([&] {
      open = scrape_metrics(stack.proxy.admin_port).value("apimeter_client_connections_active");
      return open == static_cast<double>(i + 1);
    }, kIo)) << "open: " << open.value_or(-1) << " after " << i + 1;
  }
  return silent;
}

TEST(LimitsTest, AtTheConnectionCapTheLongestIdleConnectionMakesRoomForANewClient) {
  // One worker, a cap of 4: four connections that never speak would otherwise lock every new client out
  // until the header timeout (here 30 s).
  Stack stack = start_stack({"--workers", "1", "--max-client-connections", "4", "--client-header-timeout", "30s"});
  // Accepted in this order, so the first is the one idle the longest.
  std::vector<RawConnection> silent = open_silent_connections(stack, 4);
  auto start = steady_clock::now();
  HttpResponse fresh = round_trip(stack.port(), get_request("/status/200"), 5s);
  EXPECT_EQ(fresh.status, 200) << fresh.error;
  EXPECT_LE(elapsed_ms(start), 1000);
  EXPECT_TRUE(silent[0].wait_closed(kIo));
  for (int i = 1; i < 4; ++i) EXPECT_FALSE(silent[i].wait_closed(std::chrono::milliseconds(100))) << i;
  MetricsText metrics = scrape_metrics(stack.proxy.admin_port);
  EXPECT_EQ(metrics.value("apimeter_client_connections_reclaimed_total", {{"reason", "idle_at_limit"}}), 1);
  // The episode is logged once, by the control thread's next metrics tick (every 5 s).
  EXPECT_TRUE(stack.proxy.proc().err().wait_for(
      [](std::string_view line) { return line.find("client connections near the limit") != std::string_view::npos; }, 10s))
      << stack.proxy.proc().err().text();
}

std::optional<double> reclaimed(const Stack& stack, std::string_view reason) {
  return scrape_metrics(stack.proxy.admin_port)
      .value("apimeter_client_connections_reclaimed_total", {{"reason", std::string(reason)}});
}

// A keep-alive connection that has had one request answered and now waits for its next.
RawConnection client_after_one_request(const Stack& stack) {
  RawConnection client = RawConnection::connect(stack.port());
  EXPECT_TRUE(client.send(get_request("/bytes/5")));
  EXPECT_EQ(read_final_response(client, kIo).status, 200);
  return client;
}

TEST(LimitsTest, NearTheCapTheHeaderTimeoutShrinksTowardItsFloor) {
  // Cap 10 on one worker, shrinking from 50 %: the first five silent connections get the whole 20 s, the
  // tenth (at the cap) only the 400 ms floor, the ones between something in between.
  Stack stack = start_stack({"--workers", "1", "--max-client-connections", "10", "--overload-start", "0.5",
                             "--client-header-timeout", "20s", "--client-header-timeout-floor", "400ms"});
  std::vector<RawConnection> silent = open_silent_connections(stack, 10);
  auto start = steady_clock::now();
  EXPECT_TRUE(silent[9].wait_closed(5s)) << "the connection at the cap kept the full header timeout";
  EXPECT_LE(elapsed_ms(start), 400 + kSlack);
  EXPECT_TRUE(silent[9].buffer().empty()) << "a silent connection is closed without a reply: " << silent[9].buffer();
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(silent[i].wait_closed(std::chrono::milliseconds(50))) << i;
  EXPECT_EQ(reclaimed(stack, "overload_header_timeout"), 1);
}

TEST(LimitsTest, NearTheCapAKeepAliveWaitShrinksTowardTheIdleFloor) {
  Stack stack = start_stack({"--workers", "1", "--max-client-connections", "10", "--overload-start", "0.5",
                             "--client-header-timeout", "30s", "--client-idle-timeout-floor", "300ms"});
  std::vector<RawConnection> silent = open_silent_connections(stack, 9);
  // The tenth connection, at the cap, finishes a request: its keep-alive wait is the 300 ms floor, not 60 s.
  RawConnection client = client_after_one_request(stack);
  auto start = steady_clock::now();
  EXPECT_TRUE(client.wait_closed(5s)) << "the keep-alive wait was not shrunk at the cap";
  EXPECT_LE(elapsed_ms(start), 300 + kSlack);
  EXPECT_EQ(reclaimed(stack, "overload_idle_timeout"), 1);
}

TEST(LimitsTest, BelowTheOverloadStartTimeoutsAreNotShrunk) {
  Stack stack = start_stack({"--workers", "1", "--max-client-connections", "10", "--overload-start", "0.5",
                             "--client-header-timeout-floor", "100ms", "--client-idle-timeout-floor", "100ms"});
  std::vector<RawConnection> silent = open_silent_connections(stack, 4);
  RawConnection client = client_after_one_request(stack);
  EXPECT_FALSE(client.wait_closed(1s));
  for (auto& c : silent) EXPECT_FALSE(c.wait_closed(std::chrono::milliseconds(50)));
  for (std::string_view reason : {"overload_header_timeout", "overload_idle_timeout", "idle_at_limit"})
    EXPECT_EQ(reclaimed(stack, reason), 0) << reason;
}

TEST(LimitsTest, AtTheConnectionCapConnectionsWithARequestInFlightAreNeverReclaimed) {
  Stack stack = start_stack({"--workers", "1", "--max-client-connections", "2"});
  std::vector<RawConnection> busy;
  for (int i = 0; i < 2; ++i) {
    busy.push_back(RawConnection::connect(stack.port()));
    ASSERT_TRUE(busy.back().send(get_request("/delay/1500")));
  }
  ASSERT_TRUE(poll_until([&] { return scrape_metrics(stack.proxy.admin_port).value("http_server_active_requests") == 2.0; }, kIo));
  // The third client waits in the backlog until a slot frees; the two in flight finish normally.
  HttpResponse third = round_trip(stack.port(), get_request("/status/200"), 10s);
  EXPECT_EQ(third.status, 200) << third.error;
  for (auto& c : busy) EXPECT_EQ(read_final_response(c, kIo).status, 200);
  EXPECT_EQ(scrape_metrics(stack.proxy.admin_port).value("apimeter_client_connections_reclaimed_total", {{"reason", "idle_at_limit"}}), 0);
}

TEST(TimeoutsTest, SlowUpstreamGets504AfterTheResponseTimeout) {
  Stack stack = start_stack({"--upstream-response-timeout", "300ms"});
  auto start = steady_clock::now();
  HttpResponse response = round_trip(stack.port(), get_request("/delay/3000"));
  long long took = elapsed_ms(start);
  EXPECT_EQ(response.status, 504) << response.error;
  EXPECT_EQ(response.body, "upstream response timeout\n");
  EXPECT_GE(took, 280);
  EXPECT_LE(took, 300 + kSlack);
}

TEST(TimeoutsTest, StatusLineWithoutTheRestOfTheHeadGets504) {
  // The upstream's first byte came, but not a whole head: the response timeout still covers it.
  Stack stack = start_stack({"--upstream-response-timeout", "300ms"});
  auto start = steady_clock::now();
  HttpResponse response = round_trip(stack.port(), get_request("/slow-head/3000"));
  EXPECT_EQ(response.status, 504) << response.error << "\n" << response.head;
  EXPECT_EQ(response.body, "upstream response timeout\n");
  EXPECT_LE(elapsed_ms(start), 300 + kSlack);
}

TEST(TimeoutsTest, RouteUpstreamResponseTimeoutOverridesTheGlobalOne) {
  std::string config = write_temp_file("routes.yaml",
                                       "timeouts:\n"
                                       "  upstream_response: 10s\n"
                                       "routes:\n"
                                       "  - name: delay\n"
                                       "    prefix: /delay/\n"
                                       "    upstream_response_timeout: 300ms\n"
                                       "  - name: slow_head\n"
                                       "    prefix: /slow-head/\n");
  Stack stack = start_stack({"--config", config});
  auto start = steady_clock::now();
  HttpResponse timed_out = round_trip(stack.port(), get_request("/delay/2000"));
  EXPECT_EQ(timed_out.status, 504) << timed_out.error;
  EXPECT_EQ(timed_out.body, "upstream response timeout\n");
  EXPECT_LE(elapsed_ms(start), 300 + kSlack);
  // The other route keeps the global 10 s.
  HttpResponse slow = round_trip(stack.port(), get_request("/slow-head/600"));
  EXPECT_EQ(slow.status, 200) << slow.error;
  EXPECT_EQ(slow.body, "slow head\n");
}

TEST(TimeoutsTest, WholeRequestTimeoutGets504) {
  Stack stack = start_stack({"--request-timeout", "400ms"});
  auto start = steady_clock::now();
  HttpResponse response = round_trip(stack.port(), get_request("/delay/3000"));
  long long took = elapsed_ms(start);
  EXPECT_EQ(response.status, 504) << response.error;
  EXPECT_EQ(response.body, "request timeout\n");
  EXPECT_GE(took, 380);
  EXPECT_LE(took, 400 + kSlack);
}

TEST(TimeoutsTest, UpstreamStallingMidBodyEndsTheClientConnection) {
  Stack stack = start_stack({"--upstream-body-timeout", "300ms"});
  RawConnection client = RawConnection::connect(stack.port());
  // One 64 KiB piece, then a 3 s pause before the next.
  ASSERT_TRUE(client.send(get_request("/bytes/200000?delay_ms=3000")));
  auto start = steady_clock::now();
  HttpResponse response = read_final_response(client, 5s);
  EXPECT_EQ(response.status, 200) << response.error;
  EXPECT_FALSE(response.complete) << "a truncated body must not look complete";
  EXPECT_LT(response.body_bytes, 200000u);
  EXPECT_TRUE(client.peer_closed());
  EXPECT_LE(elapsed_ms(start), 300 + kSlack);
}

// Asks for a 50 MB body, reads its head, then stops reading until the proxy's send buffer and ours are full
// and the client-body timeout has long passed; returns the head and whatever body arrives after that.
struct StalledRead {
  std::string head;
  std::string body;
};
StalledRead stall_reading(RawConnection& client, const std::string& target) {
  StalledRead result;
  EXPECT_TRUE(client.send(get_request(target)));
  auto head = client.read_until("\r\n\r\n", kIo);
  EXPECT_TRUE(head.has_value()) << client.buffer();
  if (!head) return result;
  result.head = *head;
  std::this_thread::sleep_for(1500ms);
  result.body = client.read_to_end(10s);
  return result;
}

TEST(TimeoutsTest, ClientThatStopsReadingACloseDelimitedBodyIsResetNotClosed) {
  // The body has no length, so the client takes a FIN for its end: when the client-body timeout cuts the
  // response short, only a reset tells it the body it holds is truncated.
  Stack stack = start_stack({"--client-body-timeout", "300ms"});
  RawConnection client = RawConnection::connect(stack.port());
  StalledRead read = stall_reading(client, "/bytes/50000000?until_close=1");
  ASSERT_EQ(read.head.find("Content-Length"), std::string::npos) << read.head;
  ASSERT_EQ(read.head.find("Transfer-Encoding"), std::string::npos) << read.head;
  EXPECT_TRUE(client.peer_closed()) << "the proxy kept a stalled connection open";
  EXPECT_LT(read.body.size(), 50000000u);
  EXPECT_TRUE(client.was_reset()) << "a response cut by the timeout ended with a FIN, as if complete";
}

TEST(TimeoutsTest, ClientThatStopsReadingALengthDelimitedBodyIsClosed) {
  Stack stack = start_stack({"--client-body-timeout", "300ms"});
  RawConnection client = RawConnection::connect(stack.port());
  StalledRead read = stall_reading(client, "/bytes/50000000");
  ASSERT_NE(read.head.find("Content-Length: 50000000"), std::string::npos) << read.head;
  EXPECT_TRUE(client.peer_closed()) << "the proxy kept a stalled connection open";
  EXPECT_LT(read.body.size(), 50000000u) << "the declared length already shows the cut";
}

TEST(TimeoutsTest, UpstreamThatDoesNotAcceptGets503AfterTheConnectTimeout) {
  // A listener with a zero backlog and one queued connection drops further SYNs: connect() hangs.
  RawListener blackhole(0);
  std::optional<RawConnection> filler;
  ASSERT_EQ(RawConnection::try_connect(blackhole.port(), 2s, filler), 0);
  Apimeter proxy = start_apimeter({"--upstream", "127.0.0.1:" + std::to_string(blackhole.port()),
                                   "--upstream-connect-timeout", "300ms"});
  auto start = steady_clock::now();
  HttpResponse response = round_trip(proxy.port, get_request("/bytes/5"));
  long long took = elapsed_ms(start);
  EXPECT_EQ(response.status, 503) << response.error;
  EXPECT_EQ(response.body, "upstream connect timeout\n");
  EXPECT_GE(took, 280);
  EXPECT_LE(took, 300 + kSlack);
}

TEST(TimeoutsTest, IdleTunnelIsClosedAfterTheTunnelIdleTimeout) {
  Stack stack = start_stack({"--tunnel-idle-timeout", "300ms"});
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(get_request("/ws", std::string("Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                                         "Sec-WebSocket-Key: ") +
                                                 std::string(ws::kSampleKey) + "\r\nSec-WebSocket-Version: 13\r\n")));
  HttpResponse response = read_response(client, kIo);
  ASSERT_EQ(response.status, 101) << response.error;
  auto start = steady_clock::now();
  EXPECT_TRUE(client.wait_closed(5s));
  long long took = elapsed_ms(start);
  EXPECT_GE(took, 250);
  EXPECT_LE(took, 300 + kSlack);
}

}  // namespace
}  // namespace apimeter::test
