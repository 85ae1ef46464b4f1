// Streaming: chunked bodies and trailers both ways, close-delimited responses, bodies trickled in tiny
// writes, and 100 MiB each way with the proxy's resident memory (from /proc) bounded while it streams.
#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

constexpr std::uint64_t kHundredMiB = 100ull * 1024 * 1024;
// Streaming through fixed buffers must not make the proxy hold a meaningful part of 100 MiB.
constexpr std::uint64_t kMaxRssGrowth = 30ull * 1000 * 1000;

// Sum of the first n bytes of the demo's /bytes pattern, mod 2^32 (its X-Checksum).
std::uint32_t pattern_sum(std::uint64_t n) {
  static const std::string kBlock = demo_pattern(64);
  std::uint32_t block = 0;
  for (unsigned char c : kBlock) block += c;
  std::uint32_t sum = static_cast<std::uint32_t>(n / 64) * block;
  for (std::uint64_t i = 0; i < n % 64; ++i) sum += static_cast<unsigned char>(kBlock[i]);
  return sum;
}

TEST(StreamingTest, ChunkedRequestWithTrailersReachesTheUpstreamIntact) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(),
                                   "POST /sink HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n"
                                   "Trailer: X-Trailer\r\n\r\n"
                                   "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t1\r\n\r\n");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "received 11\ntrailer X-Trailer: t1\n");
}

TEST(StreamingTest, ChunkedRequestIsEchoedChunkedWithItsTrailers) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(),
                                   "POST /echo HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n"
                                   "Trailer: X-Trailer\r\n\r\n"
                                   "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t1\r\n\r\n");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.framing, BodyFraming::chunked) << response.head;
  EXPECT_TRUE(response.complete) << response.error;
  EXPECT_EQ(response.body, "hello world");
  EXPECT_EQ(response.trailer("X-Trailer"), "t1");
}

TEST(StreamingTest, ChunkedResponseWithTrailersReachesTheClient) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), get_request("/bytes/300000?trailer=1"));
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.framing, BodyFraming::chunked) << response.head;
  EXPECT_TRUE(response.complete) << response.error;
  EXPECT_EQ(response.header("Trailer"), "X-Checksum") << response.head;
  EXPECT_EQ(response.body_bytes, 300000u);
  EXPECT_TRUE(response.body == demo_pattern(300000)) << "body differs from /bytes/300000";
  EXPECT_EQ(response.trailer("X-Checksum"), std::to_string(pattern_sum(300000)));
}

TEST(StreamingTest, CloseDelimitedResponseIsRelayedUntilTheUpstreamCloses) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(get_request("/bytes/200000?until_close=1")));
  HttpResponse response = read_final_response(client, kIo);
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.framing, BodyFraming::until_close) << response.head;
  EXPECT_TRUE(response.complete) << response.error;
  EXPECT_EQ(response.body_bytes, 200000u);
  EXPECT_TRUE(response.body == demo_pattern(200000)) << "body differs from /bytes/200000";
}

TEST(StreamingTest, BodyTrickledInThreeByteWritesIsForwardedIntact) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  std::string body = demo_pattern(3000);
  ASSERT_TRUE(client.send("POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 3000\r\n\r\n"));
  for (std::size_t i = 0; i < body.size(); i += 3) ASSERT_TRUE(client.send(std::string_view(body).substr(i, 3)));
  HttpResponse response = read_final_response(client, kIo);
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, body);
}

TEST(StreamingTest, ChunkedRequestTrickledByteByByteReachesTheUpstreamIntact) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  std::string wire = "POST /sink HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "a;name=\"v\"\r\n0123456789\r\n3\r\nabc\r\n0\r\nX-Sum: 13\r\n\r\n";
  for (char c : wire) ASSERT_TRUE(client.send(std::string_view(&c, 1)));
  HttpResponse response = read_final_response(client, kIo);
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "received 13\ntrailer X-Sum: 13\n");
}

TEST(StreamingTest, HundredMebibyteUploadStreamsWithBoundedProxyMemory) {
  Stack stack = start_stack();
  Process& proxy = stack.proxy.proc();
  // Warm up: the first exchange allocates the worker's buffers.
  ASSERT_EQ(round_trip(stack.port(), body_request("POST", "/sink", std::string(100000, 'w'))).status, 200);
  auto baseline = proxy.rss_bytes();
  ASSERT_TRUE(baseline.has_value());

  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send("POST /sink HTTP/1.1\r\nHost: test.local\r\nContent-Length: " +
                          std::to_string(kHundredMiB) + "\r\n\r\n"));
  const std::string block(1024 * 1024, 'u');
  std::uint64_t peak = *baseline;
  for (std::uint64_t sent = 0; sent < kHundredMiB; sent += block.size()) {
    ASSERT_TRUE(client.send(block, 30s)) << "upload stalled after " << sent << " bytes";
    if (auto rss = proxy.rss_bytes()) peak = std::max(peak, *rss);
  }
  HttpResponse response = read_final_response(client, 30s);
  if (auto rss = proxy.rss_bytes()) peak = std::max(peak, *rss);
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "received " + std::to_string(kHundredMiB) + "\n");
  EXPECT_LT(peak - *baseline, kMaxRssGrowth) << "RSS grew from " << *baseline << " to " << peak << " bytes";
}

TEST(StreamingTest, HundredMebibyteDownloadStreamsWithBoundedProxyMemory) {
  Stack stack = start_stack();
  Process& proxy = stack.proxy.proc();
  ASSERT_EQ(round_trip(stack.port(), get_request("/bytes/100000")).status, 200);
  auto baseline = proxy.rss_bytes();
  ASSERT_TRUE(baseline.has_value());

  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(get_request("/bytes/" + std::to_string(kHundredMiB) + "?trailer=1")));
  std::uint64_t peak = *baseline;
  std::uint64_t next_sample = 0;
  bool paused = false;
  ReadOptions options;
  options.keep_body = false;
  options.on_body_progress = [&](std::uint64_t received) {
    if (received < next_sample) return;
    next_sample = received + 1024 * 1024;
    if (auto rss = proxy.rss_bytes()) peak = std::max(peak, *rss);
    if (!paused && received >= 1024 * 1024) {
      // A slow reader: a proxy that buffered instead of applying backpressure would swallow the body now.
      paused = true;
      std::this_thread::sleep_for(500ms);
      if (auto rss = proxy.rss_bytes()) peak = std::max(peak, *rss);
    }
  };
  HttpResponse response = read_final_response(client, 60s, options);
  if (auto rss = proxy.rss_bytes()) peak = std::max(peak, *rss);
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_TRUE(response.complete) << response.error;
  EXPECT_EQ(response.body_bytes, kHundredMiB);
  EXPECT_EQ(response.body_sum, pattern_sum(kHundredMiB));
  EXPECT_EQ(response.trailer("X-Checksum"), std::to_string(pattern_sum(kHundredMiB)));
  EXPECT_LT(peak - *baseline, kMaxRssGrowth) << "RSS grew from " << *baseline << " to " << peak << " bytes";
}

}  // namespace
}  // namespace apimeter::test
