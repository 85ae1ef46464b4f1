// Upstream failures: refused, closed or reset before a response, malformed responses, bodies cut short, and
// the one retry of an idempotent request on a stale pooled connection. Scripted upstreams (RawListener)
// make the races deterministic: the test decides exactly when the upstream closes.
#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

const std::string kClosedBeforeResponding = "upstream closed the connection before responding\n";
const std::string kInvalidResponse = "upstream sent an invalid response\n";

std::string upstream_flag(const RawListener& listener) { return "127.0.0.1:" + std::to_string(listener.port()); }

// Accepts the proxy's next upstream connection and reads one request head from it.
std::optional<RawConnection> accept_request(RawListener& upstream, std::string& head) {
  auto server = upstream.accept(kIo);
  if (!server) return std::nullopt;
  auto received = server->read_until("\r\n\r\n", kIo);
  if (!received) return std::nullopt;
  head = *received;
  return server;
}

TEST(UpstreamFailureTest, RefusedConnectionGets502) {
  Apimeter proxy = start_apimeter({"--upstream", "127.0.0.1:" + std::to_string(unused_port())});
  HttpResponse response = round_trip(proxy.port, get_request("/bytes/5"));
  EXPECT_EQ(response.status, 502) << response.error;
  EXPECT_EQ(response.body, "upstream connection refused\n");
}

TEST(UpstreamFailureTest, UpstreamClosingBeforeRespondingGets502) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), get_request("/reset"));
  EXPECT_EQ(response.status, 502) << response.error;
  EXPECT_EQ(response.body, kClosedBeforeResponding);
}

TEST(UpstreamFailureTest, UpstreamResetBeforeRespondingGets502) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), get_request("/rst"));
  EXPECT_EQ(response.status, 502) << response.error;
  EXPECT_EQ(response.body, kClosedBeforeResponding);
}

TEST(UpstreamFailureTest, ClientConnectionStaysUsableAfterA502) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(get_request("/reset")));
  HttpResponse failed = read_final_response(client, kIo);
  ASSERT_EQ(failed.status, 502) << failed.error;
  ASSERT_TRUE(client.send(get_request("/bytes/3")));
  HttpResponse next = read_final_response(client, kIo);
  EXPECT_EQ(next.status, 200) << next.error;
  EXPECT_EQ(next.body, "ABC");
}

TEST(UpstreamFailureTest, UnsolicitedSwitchingProtocolsGets502) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), get_request("/status/101"));
  EXPECT_EQ(response.status, 502) << response.error << "\n" << response.head;
  EXPECT_EQ(response.body, kInvalidResponse);
}

class MalformedResponseTest : public ::testing::TestWithParam<const char*> {};

TEST_P(MalformedResponseTest, Gets502) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), get_request(std::string("/malformed/") + GetParam()));
  EXPECT_EQ(response.status, 502) << response.error << "\n" << response.head;
  EXPECT_EQ(response.body, kInvalidResponse);
}

INSTANTIATE_TEST_SUITE_P(UpstreamFailure, MalformedResponseTest,
                         ::testing::Values("dup-cl", "cl-te", "bad-status", "bare-lf", "huge-header"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string name;
                           bool upper = true;
                           for (const char* p = info.param; *p != '\0'; ++p) {
                             if (*p == '-') {
                               upper = true;
                               continue;
                             }
                             name.push_back(upper ? static_cast<char>(std::toupper(*p)) : *p);
                             upper = false;
                           }
                           return name;
                         });

TEST(UpstreamFailureTest, MalformedChunkFromTheUpstreamNeverLooksLikeACompleteResponse) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(get_request("/malformed/bad-chunk")));
  HttpResponse response = read_final_response(client, kIo);
  // Either the proxy refuses before any byte of the response (502) or it ends the connection mid-body.
  if (response.status == 502) {
    EXPECT_EQ(response.body, kInvalidResponse);
  } else {
    EXPECT_EQ(response.status, 200) << response.error;
    EXPECT_FALSE(response.complete) << "a broken chunked body was relayed as a complete response";
    EXPECT_TRUE(client.wait_closed(kIo));
  }
}

TEST(UpstreamFailureTest, UpstreamClosingMidBodyEndsTheClientConnection) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  // The demo promises 10000 bytes, sends 5000 and closes.
  ASSERT_TRUE(client.send(get_request("/close-mid-body/10000")));
  HttpResponse response = read_final_response(client, kIo);
  EXPECT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.header("content-length"), "10000");
  EXPECT_FALSE(response.complete);
  EXPECT_EQ(response.body_bytes, 5000u);
  EXPECT_EQ(response.error, "closed");
  EXPECT_TRUE(client.peer_closed());
}

TEST(UpstreamFailureTest, UpstreamClosingMidChunkedBodyEndsTheClientConnection) {
  RawListener upstream;
  Apimeter proxy = start_apimeter({"--upstream", upstream_flag(upstream)});
  RawConnection client = RawConnection::connect(proxy.port);
  ASSERT_TRUE(client.send(get_request("/scripted")));
  std::string head;
  auto server = accept_request(upstream, head);
  ASSERT_TRUE(server.has_value());
  ASSERT_TRUE(server->send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
  server->close();  // no last chunk
  HttpResponse response = read_final_response(client, kIo);
  EXPECT_EQ(response.status, 200) << response.error;
  EXPECT_FALSE(response.complete) << "the proxy completed a chunked body the upstream never finished";
  EXPECT_EQ(response.body, "hello");
  EXPECT_TRUE(client.peer_closed());
}

TEST(UpstreamFailureTest, BrokenChunkedBodyRelayedToAnHttp10ClientDoesNotEndCleanly) {
  // The 1.0 client reads the de-chunked body until the connection closes, so a plain close would pass the
  // truncated body off as complete: only an abortive close (reset) tells it the response is broken.
  RawListener upstream;
  Apimeter proxy = start_apimeter({"--upstream", upstream_flag(upstream)});
  RawConnection client = RawConnection::connect(proxy.port);
  ASSERT_TRUE(client.send("GET /scripted HTTP/1.0\r\n\r\n"));
  std::string head;
  auto server = accept_request(upstream, head);
  ASSERT_TRUE(server.has_value());
  ASSERT_TRUE(server->send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
  server->close();  // no last chunk
  HttpResponse response = read_final_response(client, kIo);
  EXPECT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.framing, BodyFraming::until_close) << response.head;
  EXPECT_FALSE(response.complete) << "the client saw a clean end of a body the upstream never finished";
  EXPECT_TRUE(client.peer_closed());
}

TEST(UpstreamFailureTest, UpstreamResetDuringACloseDelimitedBodyDoesNotEndCleanly) {
  RawListener upstream;
  Apimeter proxy = start_apimeter({"--upstream", upstream_flag(upstream)});
  RawConnection client = RawConnection::connect(proxy.port);
  ASSERT_TRUE(client.send(get_request("/scripted")));
  std::string head;
  auto server = accept_request(upstream, head);
  ASSERT_TRUE(server.has_value());
  ASSERT_TRUE(server->send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello"));
  // The head and the first body bytes reach the client; then the upstream resets mid-body.
  auto received = client.read_until("hello", kIo);
  ASSERT_TRUE(received.has_value()) << client.buffer();
  EXPECT_EQ(received->find("Content-Length"), std::string::npos) << *received;
  EXPECT_EQ(received->find("Transfer-Encoding"), std::string::npos) << *received;
  server->close_with_reset();
  // The body is close-delimited: a plain close would tell the client it is complete.
  ASSERT_TRUE(client.wait_closed(kIo));
  EXPECT_TRUE(client.was_reset()) << "an upstream reset was relayed as a clean end of the body";
}

// One keep-alive exchange through the proxy, leaving the upstream connection in the proxy's pool.
void first_exchange(RawListener& upstream, RawConnection& client, std::optional<RawConnection>& server) {
  ASSERT_TRUE(client.send(get_request("/first")));
  std::string head;
  server = accept_request(upstream, head);
  ASSERT_TRUE(server.has_value());
  ASSERT_TRUE(head.starts_with("GET /first ")) << head;
  ASSERT_TRUE(server->send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"));
  HttpResponse response = read_final_response(client, kIo);
  ASSERT_EQ(response.status, 200) << response.error;
  ASSERT_EQ(response.body, "first");
}

class StaleConnectionTest : public ::testing::TestWithParam<bool> {};

TEST_P(StaleConnectionTest, GetOnAStalePooledConnectionIsRetriedOnAFreshOne) {
  const bool reset = GetParam();
  RawListener upstream;
  Apimeter proxy = start_apimeter({"--upstream", upstream_flag(upstream), "--workers", "1"});
  RawConnection client = RawConnection::connect(proxy.port);
  std::optional<RawConnection> pooled;
  ASSERT_NO_FATAL_FAILURE(first_exchange(upstream, client, pooled));

  // The request goes out on the pooled connection, which the upstream closes without answering: the race
  // of an upstream closing an idle keep-alive connection just as the proxy reuses it.
  ASSERT_TRUE(client.send(get_request("/second", "X-Attempt: same\r\n")));
  auto on_pooled = pooled->read_until("\r\n\r\n", kIo);
  ASSERT_TRUE(on_pooled.has_value()) << "the second request did not reuse the pooled connection";
  ASSERT_TRUE(on_pooled->starts_with("GET /second ")) << *on_pooled;
  if (reset) pooled->close_with_reset();
  else pooled->close();

  std::string retried;
  auto fresh = accept_request(upstream, retried);
  ASSERT_TRUE(fresh.has_value()) << "no retry on a fresh connection";
  EXPECT_EQ(retried, *on_pooled) << "the retried request differs from the original";
  ASSERT_TRUE(fresh->send("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"));
  HttpResponse response = read_final_response(client, kIo);
  EXPECT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "second");
}

INSTANTIATE_TEST_SUITE_P(UpstreamFailure, StaleConnectionTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "ClosedWithReset" : "ClosedWithFin");
                         });

TEST(UpstreamFailureTest, PostOnAStalePooledConnectionIsNotRetriedAndGets502) {
  RawListener upstream;
  Apimeter proxy = start_apimeter({"--upstream", upstream_flag(upstream), "--workers", "1"});
  RawConnection client = RawConnection::connect(proxy.port);
  std::optional<RawConnection> pooled;
  ASSERT_NO_FATAL_FAILURE(first_exchange(upstream, client, pooled));

  ASSERT_TRUE(client.send(body_request("POST", "/second", "abc")));
  auto on_pooled = pooled->read_until("\r\n\r\n", kIo);
  ASSERT_TRUE(on_pooled.has_value());
  ASSERT_TRUE(on_pooled->starts_with("POST /second ")) << *on_pooled;
  pooled->close();
  HttpResponse response = read_final_response(client, kIo);
  EXPECT_EQ(response.status, 502) << response.error;
  EXPECT_EQ(response.body, kClosedBeforeResponding);

  // A retried POST would be the next thing the upstream accepts; the canary must come first.
  RawConnection canary = RawConnection::connect(proxy.port);
  ASSERT_TRUE(canary.send(get_request("/canary")));
  std::string head;
  auto server = accept_request(upstream, head);
  ASSERT_TRUE(server.has_value());
  EXPECT_TRUE(head.starts_with("GET /canary ")) << "the upstream received:\n" << head;
}

TEST(UpstreamFailureTest, StaleConnectionRetryHappensOnlyOnce) {
  RawListener upstream;
  Apimeter proxy = start_apimeter({"--upstream", upstream_flag(upstream), "--workers", "1"});
  RawConnection client = RawConnection::connect(proxy.port);
  std::optional<RawConnection> pooled;
  ASSERT_NO_FATAL_FAILURE(first_exchange(upstream, client, pooled));

  ASSERT_TRUE(client.send(get_request("/second")));
  ASSERT_TRUE(pooled->read_until("\r\n\r\n", kIo).has_value());
  pooled->close();
  std::string retried;
  auto fresh = accept_request(upstream, retried);
  ASSERT_TRUE(fresh.has_value()) << "no retry";
  fresh->close();  // the fresh connection fails too: that is the upstream's answer
  HttpResponse response = read_final_response(client, kIo);
  EXPECT_EQ(response.status, 502) << response.error;
  EXPECT_EQ(response.body, kClosedBeforeResponding);

  RawConnection canary = RawConnection::connect(proxy.port);
  ASSERT_TRUE(canary.send(get_request("/canary")));
  std::string head;
  auto server = accept_request(upstream, head);
  ASSERT_TRUE(server.has_value());
  EXPECT_TRUE(head.starts_with("GET /canary ")) << "a second retry reached the upstream:\n" << head;
}

TEST(UpstreamFailureTest, PooledConnectionClosedWhileIdleIsNotUsed) {
  // The upstream closes an idle pooled connection well before the next request: no error, no retry needed.
  RawListener upstream;
  Apimeter proxy = start_apimeter({"--upstream", upstream_flag(upstream), "--workers", "1"});
  RawConnection client = RawConnection::connect(proxy.port);
  std::optional<RawConnection> pooled;
  ASSERT_NO_FATAL_FAILURE(first_exchange(upstream, client, pooled));
  pooled->close();
  // The proxy notices the close when its FIN arrives; a new request then opens a new connection.
  ASSERT_TRUE(client.send(get_request("/second")));
  std::string head;
  auto fresh = accept_request(upstream, head);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_TRUE(head.starts_with("GET /second ")) << head;
  ASSERT_TRUE(fresh->send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  HttpResponse response = read_final_response(client, kIo);
  EXPECT_EQ(response.status, 200) << response.error;
}

}  // namespace
}  // namespace apimeter::test

namespace apimeter::test {
namespace {

// Several endpoints: requests are spread round robin, and a refused endpoint is skipped for the next one.
TEST(UpstreamEndpointsTest, RequestsAreSpreadRoundRobinOverEveryEndpoint) {
  DemoUpstream first = start_demo_upstream();
  DemoUpstream second = start_demo_upstream();
  Apimeter proxy = start_apimeter({"--upstream", first.address() + "," + second.address(), "--workers", "1"});
  for (int i = 0; i < 10; ++i) ASSERT_EQ(round_trip(proxy.port, get_request("/status/200")).status, 200);
  std::size_t to_first = 0, to_second = 0;
  ASSERT_TRUE(poll_until(
      [&] {
        to_first = to_second = 0;
        for (const std::string& line : proxy.proc().out().lines()) {
          auto address = json_field(line, "apimeter.upstream.address");
          to_first += address == first.address();
          to_second += address == second.address();
        }
        return to_first + to_second == 10;
      },
      kIo));
  EXPECT_EQ(to_first, 5u);
  EXPECT_EQ(to_second, 5u);
}

TEST(UpstreamEndpointsTest, RefusedEndpointIsSkippedForTheNextOne) {
  DemoUpstream live = start_demo_upstream();
  std::string dead = "127.0.0.1:" + std::to_string(unused_port());
  Apimeter proxy = start_apimeter({"--upstream", dead + "," + live.address(), "--workers", "1"});
  for (int i = 0; i < 6; ++i) {
    HttpResponse response = round_trip(proxy.port, get_request("/status/200"));
    EXPECT_EQ(response.status, 200) << "request " << i << ": " << response.error;
  }
  // /stats names both endpoints: every other request starts at the dead one, fails to connect there and
  // moves on to the live one, which so serves all six.
  HttpResponse stats = http_get(proxy.admin_port, "/stats");
  ASSERT_EQ(stats.status, 200) << stats.error;
  EXPECT_NE(stats.body.find("{\"endpoint\":\"" + dead + "\",\"upstream\":\"" + dead +
                            "\",\"attempts_total\":3,\"connections_opened_total\":3,\"connect_errors_total\":3}"),
            std::string::npos) << stats.body;
  EXPECT_NE(stats.body.find("{\"endpoint\":\"" + live.address() + "\",\"upstream\":\"" + live.address() +
                            "\",\"attempts_total\":6,"),
            std::string::npos) << stats.body;
  EXPECT_NE(stats.body.find("\"upstream_connect_errors\":{\"refused\":3}"), std::string::npos) << stats.body;
}

TEST(UpstreamEndpointsTest, EveryEndpointRefusingGives502) {
  std::string dead1 = "127.0.0.1:" + std::to_string(unused_port());
  std::string dead2 = "127.0.0.1:" + std::to_string(unused_port());
  Apimeter proxy = start_apimeter({"--upstream", dead1 + "," + dead2});
  HttpResponse response = round_trip(proxy.port, get_request("/status/200"));
  EXPECT_EQ(response.status, 502);
  EXPECT_EQ(response.body, "upstream connection refused\n");
}

}  // namespace
}  // namespace apimeter::test
