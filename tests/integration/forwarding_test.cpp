// Forwarding through a real apimeter to a real demo upstream: what reaches the upstream (/headers echoes the
// head it received), what comes back, and how each message is framed on the way. Also HTTP/1.0 clients,
// pipelining, 1xx and Expect: 100-continue. Error replies live in the limits and failure tests.
#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

TEST(ForwardingTest, GetIsForwardedAndTheUpstreamBodyReturned) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), get_request("/bytes/100"));
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_TRUE(response.complete) << response.error;
  EXPECT_EQ(response.header("content-length"), "100");
  EXPECT_EQ(response.body, demo_pattern(100));
}

TEST(ForwardingTest, RequestBodyWithContentLengthIsForwardedIntact) {
  Stack stack = start_stack();
  std::string body = demo_pattern(5000);
  HttpResponse response =
      round_trip(stack.port(), body_request("POST", "/echo", body, "Content-Type: application/x-test\r\n"));
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.header("content-type"), "application/x-test");
  EXPECT_EQ(response.body, body);
}

TEST(ForwardingTest, UpstreamSeesHostPreservedAndForwardedHeadersAdded) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(),
                                   "GET /headers?x=1&y=%20z HTTP/1.1\r\nHost: example.test:8443\r\n"
                                   "User-Agent: itest/1\r\nX-Custom: kept\r\n\r\n");
  ASSERT_EQ(response.status, 200) << response.error;
  const std::string& echoed = response.body;
  EXPECT_TRUE(echoed.starts_with("GET /headers?x=1&y=%20z HTTP/1.1\n")) << echoed;
  EXPECT_EQ(echoed_header(echoed, "Host"), "example.test:8443") << echoed;
  EXPECT_EQ(echoed_header_count(echoed, "Host"), 1u) << echoed;
  EXPECT_EQ(echoed_header(echoed, "User-Agent"), "itest/1") << echoed;
  EXPECT_EQ(echoed_header(echoed, "X-Custom"), "kept") << echoed;
  EXPECT_EQ(echoed_header(echoed, "X-Forwarded-For"), "127.0.0.1") << echoed;
  EXPECT_EQ(echoed_header(echoed, "X-Forwarded-Proto"), "http") << echoed;
  EXPECT_EQ(echoed_header(echoed, "X-Forwarded-Host"), "example.test:8443") << echoed;
  EXPECT_EQ(echoed_header(echoed, "Via"), "1.1 apimeter") << echoed;
}

TEST(ForwardingTest, ExistingXForwardedForAndViaAreAppendedTo) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(
      stack.port(), get_request("/headers", "X-Forwarded-For: 203.0.113.7\r\nVia: 1.0 edge\r\n"));
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(echoed_header(response.body, "X-Forwarded-For"), "203.0.113.7, 127.0.0.1") << response.body;
  EXPECT_EQ(echoed_header_count(response.body, "X-Forwarded-For"), 1u) << response.body;
  EXPECT_EQ(echoed_header(response.body, "Via"), "1.0 edge, 1.1 apimeter") << response.body;
}

TEST(ForwardingTest, ClientForwardedProtoAndHostAreReplacedByDefault) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(
      stack.port(), get_request("/headers", "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\n"));
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(echoed_header(response.body, "X-Forwarded-Proto"), "http") << response.body;
  EXPECT_EQ(echoed_header_count(response.body, "X-Forwarded-Proto"), 1u) << response.body;
  EXPECT_EQ(echoed_header(response.body, "X-Forwarded-Host"), "test.local") << response.body;
  EXPECT_EQ(echoed_header_count(response.body, "X-Forwarded-Host"), 1u) << response.body;
}

TEST(ForwardingTest, HopByHopRequestHeadersAndFieldsNamedInConnectionAreRemoved) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), get_request("/headers",
                                                             "Connection: keep-alive, X-Secret\r\n"
                                                             "Keep-Alive: timeout=5\r\n"
                                                             "Proxy-Connection: keep-alive\r\n"
                                                             "TE: trailers\r\n"
                                                             "Upgrade: h2c\r\n"
                                                             "X-Secret: hidden\r\n"
                                                             "X-Kept: visible\r\n"));
  ASSERT_EQ(response.status, 200) << response.error;
  const std::string& echoed = response.body;
  for (std::string_view name : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Upgrade", "X-Secret"})
    EXPECT_FALSE(echoed_header(echoed, name).has_value()) << name << " reached the upstream:\n" << echoed;
  EXPECT_EQ(echoed_header(echoed, "X-Kept"), "visible") << echoed;
}

TEST(ForwardingTest, ResponseCarriesViaAndNoHopByHopHeaders) {
  // A scripted upstream, because the demo never sends hop-by-hop fields.
  RawListener upstream;
  Apimeter proxy = start_apimeter({"--upstream", "127.0.0.1:" + std::to_string(upstream.port())});
  RawConnection client = RawConnection::connect(proxy.port);
  ASSERT_TRUE(client.send(get_request("/scripted")));
  auto server = upstream.accept(kIo);
  ASSERT_TRUE(server.has_value());
  ASSERT_TRUE(server->read_until("\r\n\r\n", kIo).has_value());
  ASSERT_TRUE(server->send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Up-Secret\r\n"
                           "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nX-Up-Secret: 1\r\n"
                           "Upgrade: foo\r\nTE: trailers\r\nX-Up-Kept: 1\r\nVia: 1.1 backend\r\n\r\nok"));
  HttpResponse response = read_final_response(client, kIo);
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "ok");
  for (std::string_view name : {"Keep-Alive", "Proxy-Connection", "X-Up-Secret", "Upgrade", "TE"})
    EXPECT_FALSE(response.header(name).has_value()) << name << " reached the client:\n" << response.head;
  EXPECT_FALSE(response.connection_has("X-Up-Secret")) << response.head;
  EXPECT_EQ(response.header("X-Up-Kept"), "1") << response.head;
  EXPECT_EQ(response.header("Via"), "1.1 backend, 1.1 apimeter") << response.head;
}

TEST(ForwardingTest, UpstreamConnectionCloseKeepsThatConnectionOutOfThePool) {
  RawListener upstream;
  Apimeter proxy = start_apimeter({"--upstream", "127.0.0.1:" + std::to_string(upstream.port()), "--workers", "1"});
  RawConnection client = RawConnection::connect(proxy.port);
  ASSERT_TRUE(client.send(get_request("/first")));
  auto first = upstream.accept(kIo);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(first->read_until("\r\n\r\n", kIo).has_value());
  // The upstream says it will close, but leaves the socket open: only the header tells the proxy.
  ASSERT_TRUE(first->send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"));
  HttpResponse response = read_final_response(client, kIo);
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_FALSE(response.connection_has("close")) << "the client connection need not close:\n" << response.head;

  ASSERT_TRUE(client.send(get_request("/second")));
  auto second = upstream.accept(kIo);
  ASSERT_TRUE(second.has_value()) << "the second request went to the connection the upstream had closed";
  auto head = second->read_until("\r\n\r\n", kIo);
  ASSERT_TRUE(head.has_value());
  EXPECT_TRUE(head->starts_with("GET /second ")) << *head;
}

TEST(ForwardingTest, ResponsesFromTheDemoCarryVia) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), get_request("/status/201"));
  ASSERT_EQ(response.status, 201) << response.error;
  EXPECT_EQ(response.header("Via"), "1.1 apimeter") << response.head;
  EXPECT_EQ(response.body, "status 201\n");
}

TEST(ForwardingTest, AbsoluteFormTargetIsForwardedInOriginForm) {
  Stack stack = start_stack();
  HttpResponse response =
      round_trip(stack.port(), "GET http://example.test/headers?q=1 HTTP/1.1\r\nHost: example.test\r\n\r\n");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_TRUE(response.body.starts_with("GET /headers?q=1 HTTP/1.1\n")) << response.body;
  EXPECT_EQ(echoed_header(response.body, "Host"), "example.test") << response.body;
}

TEST(ForwardingTest, HeadResponseHasContentLengthAndNoBody) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(get_request("/bytes/100", "", "HEAD")));
  ReadOptions options;
  options.head_request = true;
  HttpResponse head = read_final_response(client, kIo, options);
  ASSERT_EQ(head.status, 200) << head.error;
  EXPECT_EQ(head.header("content-length"), "100") << head.head;
  // Any body bytes after the HEAD response would be read as the next response's status line.
  ASSERT_TRUE(client.send(get_request("/bytes/3")));
  HttpResponse next = read_final_response(client, kIo);
  ASSERT_EQ(next.status, 200) << next.error;
  EXPECT_EQ(next.body, "ABC");
}

TEST(ForwardingTest, NoContentResponseHasNoBodyAndTheConnectionStaysInStep) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(get_request("/status/204")));
  HttpResponse response = read_final_response(client, kIo);
  ASSERT_EQ(response.status, 204) << response.error;
  EXPECT_FALSE(response.header("transfer-encoding").has_value()) << response.head;
  auto length = response.header("content-length");
  EXPECT_TRUE(!length || *length == "0") << response.head;
  ASSERT_TRUE(client.send(get_request("/bytes/3")));
  HttpResponse next = read_final_response(client, kIo);
  ASSERT_EQ(next.status, 200) << next.error << "\nbytes left over: " << client.buffer();
  EXPECT_EQ(next.body, "ABC");
}

TEST(ForwardingTest, NotModifiedResponseHasNoBodyAndTheConnectionStaysInStep) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(get_request("/status/304", "If-None-Match: \"x\"\r\n")));
  HttpResponse response = read_final_response(client, kIo);
  ASSERT_EQ(response.status, 304) << response.error;
  EXPECT_FALSE(response.header("transfer-encoding").has_value()) << response.head;
  ASSERT_TRUE(client.send(get_request("/bytes/3")));
  HttpResponse next = read_final_response(client, kIo);
  ASSERT_EQ(next.status, 200) << next.error << "\nbytes left over: " << client.buffer();
  EXPECT_EQ(next.body, "ABC");
}

TEST(ForwardingTest, PipelinedRequestsInOneWriteAreAnsweredInOrder) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  // The slow one first: answering in completion order instead of request order would show.
  ASSERT_TRUE(client.send(get_request("/delay/300") + body_request("POST", "/sink", "abcd") +
                          get_request("/bytes/5")));
  HttpResponse first = read_final_response(client, kIo);
  HttpResponse second = read_final_response(client, kIo);
  HttpResponse third = read_final_response(client, kIo);
  ASSERT_EQ(first.status, 200) << first.error;
  EXPECT_EQ(first.body, "delayed 300\n");
  ASSERT_EQ(second.status, 200) << second.error;
  EXPECT_EQ(second.body, "received 4\n");
  ASSERT_EQ(third.status, 200) << third.error;
  EXPECT_EQ(third.body, "ABCDE");
}

TEST(ForwardingTest, ConnectionCloseFromAnHttp11ClientIsHonoured) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(get_request("/bytes/5", "Connection: close\r\n")));
  HttpResponse response = read_final_response(client, kIo);
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_TRUE(response.connection_has("close")) << response.head;
  EXPECT_EQ(response.body, "ABCDE");
  EXPECT_TRUE(client.wait_closed(kIo));
}

TEST(ForwardingTest, Http10ClientWithKeepAliveKeepsItsConnection) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(client.send("GET /bytes/5 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")) << "request " << i;
    HttpResponse response = read_final_response(client, kIo);
    ASSERT_EQ(response.status, 200) << "request " << i << ": " << response.error;
    EXPECT_TRUE(response.connection_has("keep-alive")) << response.head;
    EXPECT_EQ(response.header("content-length"), "5") << response.head;
    EXPECT_EQ(response.body, "ABCDE");
  }
}

TEST(ForwardingTest, Http10ClientWithoutKeepAliveIsClosedAfterTheResponse) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send("GET /bytes/5 HTTP/1.0\r\n\r\n"));
  HttpResponse response = read_final_response(client, kIo);
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "ABCDE");
  EXPECT_FALSE(response.connection_has("keep-alive")) << response.head;
  EXPECT_TRUE(client.wait_closed(kIo));
}

TEST(ForwardingTest, Http10ClientGetsAChunkedUpstreamResponseDechunkedAndClosed) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send("GET /bytes/100000?chunked=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  HttpResponse response = read_final_response(client, kIo);
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_FALSE(response.header("transfer-encoding").has_value()) << response.head;
  EXPECT_EQ(response.framing, BodyFraming::until_close) << response.head;
  EXPECT_TRUE(response.complete) << response.error;
  EXPECT_EQ(response.body_bytes, 100000u);
  EXPECT_TRUE(response.body == demo_pattern(100000)) << "body differs from /bytes/100000";
  EXPECT_TRUE(client.peer_closed());
}

TEST(ForwardingTest, InterimResponsesAreRelayedToHttp11Clients) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(get_request("/status/103")));
  std::vector<HttpResponse> interim;
  HttpResponse response = read_final_response(client, kIo, {}, &interim);
  ASSERT_EQ(interim.size(), 1u);
  EXPECT_EQ(interim[0].status, 103);
  EXPECT_EQ(interim[0].header("Link"), "</style.css>; rel=preload; as=style") << interim[0].head;
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "status 200\n");
}

TEST(ForwardingTest, InterimResponsesAreNotSentToHttp10Clients) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  // The proxy speaks HTTP/1.1 upstream, so the demo does send the 103; it must not reach a 1.0 client.
  ASSERT_TRUE(client.send("GET /status/103 HTTP/1.0\r\n\r\n"));
  HttpResponse response = read_response(client, kIo);
  ASSERT_EQ(response.status, 200) << response.error << "\n" << response.head;
  EXPECT_EQ(response.body, "status 200\n");
}

TEST(ForwardingTest, ExpectContinueGetsContinueBeforeTheBodyIsSent) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send("POST /sink HTTP/1.1\r\nHost: test.local\r\nExpect: 100-continue\r\n"
                          "Content-Length: 10\r\n\r\n"));
  // The client holds the body back until it sees 100 Continue.
  HttpResponse interim = read_response(client, kIo);
  ASSERT_EQ(interim.status, 100) << interim.error << "\n" << interim.head;
  ASSERT_TRUE(client.send("0123456789"));
  HttpResponse response = read_final_response(client, kIo);
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "received 10\n");
}

TEST(ForwardingTest, ExpectContinueRefusedByTheUpstreamGetsTheFinalResponseWithoutContinue) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send("POST /continue HTTP/1.1\r\nHost: test.local\r\nX-Reject: 1\r\n"
                          "Expect: 100-continue\r\nContent-Length: 10\r\n\r\n"));
  std::vector<HttpResponse> interim;
  HttpResponse response = read_final_response(client, kIo, {}, &interim);
  EXPECT_TRUE(interim.empty()) << "got " << interim.size() << " interim responses";
  ASSERT_EQ(response.status, 401) << response.error;
  EXPECT_EQ(response.body, "rejected\n");
}

TEST(ForwardingTest, UnmatchedPathIsRejectedWith404WhenConfigured) {
  std::string config = write_temp_file("routes.yaml",
                                       "routes:\n"
                                       "  - name: bytes\n"
                                       "    prefix: /bytes/\n");
  Stack stack = start_stack({"--config", config, "--unmatched-routes", "reject"});
  HttpResponse rejected = round_trip(stack.port(), get_request("/status/200"));
  EXPECT_EQ(rejected.status, 404) << rejected.error;
  EXPECT_EQ(rejected.body, "no route for this request\n");
  HttpResponse matched = round_trip(stack.port(), get_request("/bytes/3"));
  EXPECT_EQ(matched.status, 200) << matched.error;
  EXPECT_EQ(matched.body, "ABC");
}

TEST(ForwardingTest, OptionsAndTraceWithNoHopsLeftAreAnsweredByTheProxy) {
  // RFC 9110 7.6.2: Max-Forwards 0 makes apimeter the final recipient; the upstream never sees the request.
  RawListener upstream;
  Apimeter proxy = start_apimeter({"--upstream", "127.0.0.1:" + std::to_string(upstream.port())});
  RawConnection client = RawConnection::connect(proxy.port);
  ASSERT_TRUE(client.send("OPTIONS * HTTP/1.1\r\nHost: shop\r\nMax-Forwards: 0\r\n\r\n"));
  HttpResponse options = read_final_response(client, kIo);
  EXPECT_EQ(options.status, 200) << options.error;
  EXPECT_EQ(options.header("allow"), "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH");
  EXPECT_EQ(options.header("content-length"), "0");
  // Same connection: the answer kept it alive, and TRACE echoes the request without its credentials.
  ASSERT_TRUE(client.send("TRACE /orders HTTP/1.1\r\nHost: shop\r\nMax-Forwards: 0\r\nCookie: session=secret\r\n"
                          "Authorization: Bearer secret\r\nX-Probe: 1\r\n\r\n"));
  HttpResponse trace = read_final_response(client, kIo);
  EXPECT_EQ(trace.status, 200) << trace.error;
  EXPECT_EQ(trace.header("content-type"), "message/http");
  EXPECT_EQ(trace.body, "TRACE /orders HTTP/1.1\r\nHost: shop\r\nMax-Forwards: 0\r\nX-Probe: 1\r\n\r\n");
  EXPECT_EQ(trace.body.find("secret"), std::string::npos) << trace.body;
  EXPECT_FALSE(upstream.accept(300ms).has_value()) << "a request with no hops left reached the upstream";
}

TEST(ForwardingTest, OptionsWithHopsLeftIsForwardedWithOneHopLess) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), "OPTIONS /headers HTTP/1.1\r\nHost: shop\r\nMax-Forwards: 5\r\n\r\n");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(echoed_header(response.body, "Max-Forwards"), "4") << response.body;
  HttpResponse get = round_trip(stack.port(), get_request("/headers", "Max-Forwards: 0\r\n"));
  ASSERT_EQ(get.status, 200) << get.error;
  EXPECT_EQ(echoed_header(get.body, "Max-Forwards"), "0") << "only OPTIONS and TRACE count hops: " << get.body;
}

TEST(ForwardingTest, TraceWithAnAmbiguousMaxForwardsGets400) {
  RawListener upstream;
  Apimeter proxy = start_apimeter({"--upstream", "127.0.0.1:" + std::to_string(upstream.port())});
  HttpResponse response =
      round_trip(proxy.port, "TRACE / HTTP/1.1\r\nHost: shop\r\nMax-Forwards: 1\r\nMax-Forwards: 0\r\n\r\n");
  EXPECT_EQ(response.status, 400) << response.error;
  EXPECT_EQ(response.body, "bad request: invalid Max-Forwards\n");
  EXPECT_FALSE(upstream.accept(300ms).has_value());
}

TEST(ForwardingTest, CurlGetsTheUpstreamResponseThroughTheProxy) {
  Stack stack = start_stack();
  RunResult curl = run_to_completion(
      "curl", {"-sS", "--max-time", "5", "-D", "-", "http://127.0.0.1:" + std::to_string(stack.port()) + "/bytes/64"},
      10s);
  ASSERT_EQ(curl.exit_code, 0) << curl.err_text();
  std::string out = curl.out_text();
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
  EXPECT_NE(out.find("Via: 1.1 apimeter"), std::string::npos) << out;
  EXPECT_NE(out.find(demo_pattern(64)), std::string::npos) << out;
}

}  // namespace
}  // namespace apimeter::test
