// HTTP/2 from the client (h2c with prior knowledge, h2 by ALPN) to the HTTP/1.1 upstream: real clients
// (curl, nghttp, Debian's python3-h2 through tests/support/h2_client.py), the demo upstream, and the
// metrics the exchanges leave.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <utility>

#include "tests/integration/harness.hpp"
#include "tests/support/test_pki.hpp"

namespace apimeter::test {
namespace {

constexpr std::string_view kCount = "http_server_request_duration_seconds_count";

std::string url(const Stack& stack, std::string_view path) {
  return "http://127.0.0.1:" + std::to_string(stack.port()) + std::string(path);
}

RunResult h2c_curl(const Stack& stack, std::vector<std::string> args, std::string_view path) {
  std::vector<std::string> all{"-sS", "--max-time", "10", "--http2-prior-knowledge"};
  all.insert(all.end(), args.begin(), args.end());
  all.push_back(url(stack, path));
  return run_to_completion("curl", std::move(all), 15s);
}

// What a test shows when it fails: the end of the client's output.
std::string tail_of(const std::string& out) {
  return out.substr(out.size() > 2000 ? out.size() - 2000 : 0);
}

// tests/support/h2_client.py on the proxy's port with `steps`; its event lines.
RunResult h2_client(const Stack& stack, std::vector<std::string> steps) {
  std::vector<std::string> all{source_dir() + "/tests/support/h2_client.py", std::to_string(stack.port())};
  all.insert(all.end(), steps.begin(), steps.end());
  return run_to_completion("/usr/bin/python3", std::move(all), 15s);
}

TEST(Http2Test, H2cWithPriorKnowledgeReachesTheHttp11UpstreamAndIsMeasuredAsVersion2) {
  Stack stack = start_stack();
  RunResult run = h2c_curl(stack, {"-D", "-"}, "/headers?x=1");
  ASSERT_EQ(run.exit_code, 0) << run.err_text() << stack.proxy.proc().describe();
  const std::string out = run.out_text();
  EXPECT_NE(out.find("HTTP/2 200"), std::string::npos) << out;
  // The upstream got an HTTP/1.1 request: Host from :authority, the forwarding fields, the query.
  EXPECT_EQ(echoed_header(out, "Host"), "127.0.0.1:" + std::to_string(stack.port())) << out;
  EXPECT_EQ(echoed_header(out, "X-Forwarded-Proto"), "http") << out;
  EXPECT_EQ(echoed_header(out, "X-Forwarded-For"), "127.0.0.1") << out;
  EXPECT_NE(out.find("GET /headers?x=1 HTTP/1.1"), std::string::npos) << out;
  // Response fields go out lowercase, without the HTTP/1.1 connection's own ones.
  EXPECT_NE(out.find("content-type:"), std::string::npos) << out;
  EXPECT_EQ(out.find("connection:"), std::string::npos) << out;

  MetricsText m = scrape_after_requests(stack.proxy.admin_port, 1);
  EXPECT_EQ(m.sum(kCount, {{"network_protocol_version", "2"}, {"http_response_status_code", "200"}}), 1);
  EXPECT_EQ(m.sum(kCount, {{"network_protocol_version", "1.1"}}), 0);
}

TEST(Http2Test, BodiesStreamBothWaysWithAndWithoutADeclaredLength) {
  Stack stack = start_stack();
  const std::string body = demo_pattern(1 << 20);  // a megabyte: many windows of the stream's buffer
  const std::string file = write_temp_file("upload.bin", body);
  const std::string out = (test_temp_dir() / "echoed.bin").string();
  RunResult sized = h2c_curl(stack, {"--data-binary", "@" + file, "-o", out, "-w", "%{http_code}"}, "/echo");
  ASSERT_EQ(sized.exit_code, 0) << sized.err_text();
  EXPECT_EQ(sized.out_text(), "200\n");
  std::ifstream echoed(out, std::ios::binary);
  const std::string got((std::istreambuf_iterator<char>(echoed)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(got == body) << got.size() << " bytes echoed of " << body.size();

  // From a pipe curl knows no length: no content-length on the stream, so the upstream gets it chunked.
  const std::string out2 = (test_temp_dir() / "echoed2.bin").string();
  RunResult unsized = run_to_completion(
      "/bin/sh",
      {"-c", "cat '" + file + "' | curl -sS --max-time 10 --http2-prior-knowledge -T - -X POST -o '" + out2 +
                 "' -w '%{http_code}' " + url(stack, "/echo")},
      15s);
  ASSERT_EQ(unsized.exit_code, 0) << unsized.err_text();
  EXPECT_EQ(unsized.out_text(), "200\n");
  std::ifstream echoed2(out2, std::ios::binary);
  const std::string got2((std::istreambuf_iterator<char>(echoed2)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(got2 == body) << got2.size() << " bytes echoed of " << body.size();

  MetricsText m = scrape_after_requests(stack.proxy.admin_port, 2);
  EXPECT_EQ(m.sum("http_server_request_body_size_bytes_sum"), 2.0 * body.size());
  EXPECT_EQ(m.sum("http_server_response_body_size_bytes_sum"), 2.0 * body.size());
}

TEST(Http2Test, RequestTrailersGoUpInTheLastChunk) {
  Stack stack = start_stack();
  // 200,000 bytes in 1,000-byte DATA frames: three windows' worth, so the window must come back as the
  // bytes go upstream, or the upload stalls.
  RunResult run = h2_client(stack, {"post", "/sink", "200000", "x-checksum=abc123", "x-count=2"});
  ASSERT_EQ(run.exit_code, 0) << run.err_text();
  const std::string out = run.out_text();
  EXPECT_NE(out.find("head 1 200"), std::string::npos) << out;
  EXPECT_NE(out.find("body received 200000"), std::string::npos) << out;
  EXPECT_NE(out.find("body trailer x-checksum: abc123"), std::string::npos) << out;
  EXPECT_NE(out.find("body trailer x-count: 2"), std::string::npos) << out;
}

TEST(Http2Test, ManyConcurrentStreamsShareOneConnection) {
  Stack stack = start_stack();
  // nghttp -m 60: the same request 60 times, all on one connection, as concurrent streams.
  RunResult run = run_to_completion("nghttp", {"-n", "-s", "-m", "60", url(stack, "/api/products")}, 30s);
  ASSERT_EQ(run.exit_code, 0) << run.err_text() << run.out_text();
  MetricsText m = scrape_after_requests(stack.proxy.admin_port, 60);
  EXPECT_EQ(m.sum(kCount, {{"network_protocol_version", "2"}, {"http_response_status_code", "200"}}), 60);
  EXPECT_EQ(m.sum("apimeter_client_connections_total"), 1) << "one connection carried them all";
}

TEST(Http2Test, SequentialRequestsReuseTheConnectionAndTheUpstream) {
  Stack stack = start_stack();
  RunResult run = h2_client(stack, {"get", "/api/products", "get", "/api/orders/5", "get", "/headers"});
  ASSERT_EQ(run.exit_code, 0) << run.err_text();
  const std::string out = run.out_text();
  EXPECT_NE(out.find("head 1 200"), std::string::npos) << out;
  EXPECT_NE(out.find("head 3 200"), std::string::npos) << out;
  EXPECT_NE(out.find("head 5 200"), std::string::npos) << out;
  // The upstream leg gave its HTTP/1.1 connection back to the pool after each stream: one was enough.
  MetricsText m = scrape_until(stack.proxy.admin_port, [](const MetricsText& t) {
    return t.sum(kCount) == 3 &&
           t.sum("http_client_open_connections", {{"http_connection_state", "idle"}}) >= 1;
  });
  EXPECT_EQ(m.sum("http_client_open_connections", {{"http_connection_state", "idle"}}), 1);
}

TEST(Http2Test, MalformedRequestsNeverReachTheUpstream) {
  Stack stack = start_stack();
  // A Host that names another server than :authority is ambiguous: 400 from apimeter.
  RunResult host = h2_client(stack, {"raw", "/headers", "host=evil.example"});
  ASSERT_EQ(host.exit_code, 0) << host.err_text();
  EXPECT_NE(host.out_text().find("head 1 400"), std::string::npos) << host.out_text();
  // Connection-specific fields and uppercase names are malformed (RFC 9113 8.2): the stream is reset with
  // PROTOCOL_ERROR (1) by the decoder, or answered 400.
  for (const std::string field : {"connection=close", "transfer-encoding=chunked", "X-Upper=1"}) {
    RunResult bad = h2_client(stack, {"raw", "/headers", field});
    ASSERT_EQ(bad.exit_code, 0) << bad.err_text();
    const std::string out = bad.out_text();
    EXPECT_TRUE(out.find("reset 1 1") != std::string::npos || out.find("head 1 400") != std::string::npos)
        << field << ": " << out;
  }
  MetricsText m = scrape_metrics(stack.proxy.admin_port);
  EXPECT_EQ(m.sum("http_client_open_connections"), 0) << "nothing went upstream";
  EXPECT_GE(m.sum(kCount, {{"error_type", "bad_request"}, {"http_response_status_code", "400"}}), 1);
}

TEST(Http2Test, AnUnreachableUpstreamIsAnsweredOnTheStreamAndTheConnectionGoesOn) {
  Stack stack = start_stack();
  stack.upstream.process->kill();
  RunResult run = h2_client(stack, {"get", "/api/products", "get", "/api/orders/5"});
  ASSERT_EQ(run.exit_code, 0) << run.err_text();
  const std::string out = run.out_text();
  // A local reply per stream (502 with its one-line body), both on the one connection.
  EXPECT_NE(out.find("head 1 502"), std::string::npos) << out;
  EXPECT_NE(out.find("head 3 502"), std::string::npos) << out;
  EXPECT_EQ(out.find("closed"), std::string::npos) << out;
  MetricsText m = scrape_after_requests(stack.proxy.admin_port, 2);
  EXPECT_EQ(m.sum(kCount, {{"network_protocol_version", "2"}, {"http_response_status_code", "502"}}), 2);
}

TEST(Http2Test, AClientResetMidResponseEndsTheExchangeAndDropsTheUpstreamConnection) {
  Stack stack = start_stack();
  // 200 MB: far more than the windows hold, so the response is mid-body when the client resets it.
  RunResult run = h2_client(stack, {"reset-after-head", "/bytes/200000000", "get", "/api/products"});
  ASSERT_EQ(run.exit_code, 0) << run.err_text();
  EXPECT_NE(run.out_text().find("sent-reset 1"), std::string::npos) << run.out_text();
  EXPECT_NE(run.out_text().find("head 3 200"), std::string::npos) << run.out_text();
  // The cut exchange is accounted for once, and its upstream connection (mid-body, out of step) is closed,
  // not pooled: only the second stream's is idle.
  MetricsText m = scrape_until(stack.proxy.admin_port, [](const MetricsText& t) {
    return t.sum(kCount) == 2 &&
           t.sum("http_client_open_connections", {{"http_connection_state", "active"}}) == 0 &&
           t.sum("http_client_open_connections", {{"http_connection_state", "idle"}}) >= 1;
  });
  EXPECT_EQ(m.sum(kCount), 2);
  EXPECT_EQ(m.sum(kCount, {{"error_type", "client_closed"}}), 1);
  EXPECT_EQ(m.sum("http_client_open_connections", {{"http_connection_state", "active"}}), 0);
  EXPECT_EQ(m.sum("http_client_open_connections", {{"http_connection_state", "idle"}}), 1);
}

// The GOAWAY line h2_client.py printed: its last stream id and error code; nullopt when none came.
std::optional<std::pair<long, long>> goaway_of(const std::string& out) {
  const auto at = out.find("goaway ");
  if (at == std::string::npos) return std::nullopt;
  long last = 0, code = 0;
  if (std::sscanf(out.c_str() + at, "goaway %ld %ld", &last, &code) != 2) return std::nullopt;
  return std::make_pair(last, code);
}

constexpr long kEnhanceYourCalm = 11;  // RFC 9113 7

TEST(Http2Test, RapidResetEndsTheConnectionOnceTheBudgetIsSpent) {
  Stack stack = start_stack();
  // CVE-2023-44487: streams opened and reset at once, far past the budget (1,000, then 33 per second). The
  // library ends the connection (GOAWAY INTERNAL_ERROR) about 1,000 streams in (odd ids: 2,000).
  RunResult run = h2_client(stack, {"rapid-reset", "3000", "/api/products"});
  ASSERT_TRUE(run.exit_code.has_value()) << "the flood was not stopped";
  const auto goaway = goaway_of(run.out_text());
  ASSERT_TRUE(goaway.has_value()) << tail_of(run.out_text());
  EXPECT_NE(goaway->second, 0) << tail_of(run.out_text());
  EXPECT_LT(goaway->first, 2400) << "streams taken before the connection ended";
  // The proxy goes on serving other clients.
  EXPECT_EQ(http_get(stack.port(), "/api/products").status, 200);
}

TEST(Http2Test, StreamsTheServerMustResetAreBudgetedToo) {
  Stack stack = start_stack();
  // "MadeYouReset" (CVE-2025-8671): requests the server itself must reset (an uppercase field name), which
  // nghttp2 does not count; apimeter puts the resets it sends on the same budget.
  RunResult run = h2_client(stack, {"made-you-reset", "3000", "/api/products"});
  ASSERT_TRUE(run.exit_code.has_value()) << "the flood was not stopped";
  const auto goaway = goaway_of(run.out_text());
  ASSERT_TRUE(goaway.has_value()) << tail_of(run.out_text());
  EXPECT_EQ(goaway->second, kEnhanceYourCalm) << tail_of(run.out_text());
  EXPECT_LT(goaway->first, 2400) << "streams taken before the connection ended";
  MetricsText m = scrape_metrics(stack.proxy.admin_port);
  EXPECT_EQ(m.sum("http_client_open_connections"), 0) << "none of them went upstream";
}

TEST(Http2Test, AResponseTheClientTakesNothingOfIsBoundedByTheBodyTimeout) {
  Stack stack = start_stack({"--client-body-timeout", "1s"});
  // A stream window of 0: the head goes out, no DATA can. The stream is reset once the client body timeout
  // passes (INTERNAL_ERROR, 2), the exchange ends and its upstream connection goes.
  RunResult run = h2_client(stack, {"shut-window", "/bytes/1000000"});
  ASSERT_TRUE(run.exit_code.has_value()) << "the stream was never ended";
  EXPECT_NE(run.out_text().find("reset 1 2"), std::string::npos) << run.out_text();
  MetricsText m = scrape_until(stack.proxy.admin_port, [](const MetricsText& t) {
    return t.sum(kCount) == 1 &&
           t.sum("http_client_open_connections", {{"http_connection_state", "active"}}) == 0;
  });
  EXPECT_EQ(m.sum(kCount, {{"error_type", "client_timeout"}}), 1);
  EXPECT_EQ(m.sum("http_client_open_connections", {{"http_connection_state", "active"}}), 0);
}

TEST(Http2Test, AClientThatStopsReadingLosesTheConnectionAndHoldsNoMemory) {
  Stack stack = start_stack({"--client-body-timeout", "1s"});
  // Warm up: the first streams allocate the worker's buffers.
  ASSERT_EQ(h2_client(stack, {"get", "/bytes/1000000"}).exit_code, 0);
  const auto baseline = stack.proxy.proc().rss_bytes();
  ASSERT_TRUE(baseline.has_value());
  // 500 MB asked for and nothing read: the socket buffers fill, the connection's write deadline passes,
  // the connection goes; the exchange is accounted for and the proxy did not buffer the body.
  RunResult run = h2_client(stack, {"stall", "/bytes/500000000", "4"});
  ASSERT_TRUE(run.exit_code.has_value());
  EXPECT_NE(run.out_text().find("closed"), std::string::npos) << tail_of(run.out_text());
  MetricsText m = scrape_after_requests(stack.proxy.admin_port, 2);
  EXPECT_EQ(m.sum(kCount), 2);
  EXPECT_LT(m.sum("http_server_response_body_size_bytes_sum"), 50e6) << "only what the socket buffers hold";
  const auto rss = stack.proxy.proc().rss_bytes();
  ASSERT_TRUE(rss.has_value());
  EXPECT_LT(*rss - std::min(*rss, *baseline), 30'000'000u) << "RSS grew from " << *baseline << " to " << *rss;
}

TEST(Http2Test, DrainSendsGoawayAndEndsTheConnectionCleanly) {
  Stack stack = start_stack({"--drain-delay", "0s"});
  std::vector<std::string> args{source_dir() + "/tests/support/h2_client.py", std::to_string(stack.port()),
                                "get", "/api/products", "wait-goaway"};
  Process client("/usr/bin/python3", args);
  ASSERT_TRUE(client.wait_for_stdout(contains("response 1"), 10s)) << client.describe();
  stack.proxy.proc().send_signal(SIGTERM);
  // GOAWAY with NO_ERROR naming the last stream taken, then the close.
  EXPECT_TRUE(client.wait_for_stdout(contains("goaway 1 0"), 10s)) << client.describe();
  EXPECT_TRUE(client.wait_exit(10s).has_value());
  EXPECT_TRUE(stack.proxy.proc().wait_exit(15s).has_value());
}

TEST(Http2Test, H2OverTlsIsChosenByAlpn) {
  TestPki pki(test_temp_dir());
  const CertFiles server = pki.issue("server", "apimeter.test", /*server=*/true);
  DemoUpstream upstream = start_demo_upstream();
  Apimeter proxy = start_apimeter(
      {"--upstream", upstream.address(), "--tls-cert-file", server.cert, "--tls-key-file", server.key});
  RunResult run =
      run_to_completion("curl",
                        {"-sS", "--max-time", "10", "--http2", "--cacert", pki.ca_file(), "-D", "-", "-o",
                         "/dev/null", "https://127.0.0.1:" + std::to_string(proxy.port) + "/api/products",
                         "https://127.0.0.1:" + std::to_string(proxy.port) + "/api/orders/5"},
                        15s);
  ASSERT_EQ(run.exit_code, 0) << run.err_text();
  EXPECT_NE(run.out_text().find("HTTP/2 200"), std::string::npos) << run.out_text();
  MetricsText m = scrape_after_requests(proxy.admin_port, 2);
  EXPECT_EQ(m.sum(kCount, {{"network_protocol_version", "2"}}), 2);
  EXPECT_EQ(m.sum("apimeter_tls_handshakes_total", {{"result", "success"}}), 1) << "both on one connection";
}

}  // namespace
}  // namespace apimeter::test
