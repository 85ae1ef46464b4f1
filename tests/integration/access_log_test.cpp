// The access log: one JSON line per request with ECS field names, wire byte counts that match what the
// client sent and received, durations, route labels and error types; and its stdout, file and off modes.
#include <signal.h>

#include <fstream>

#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

// Stops the proxy gracefully so its access log is flushed, then returns its stdout lines.
std::vector<std::string> stop_and_collect(Apimeter& proxy) {
  proxy.proc().send_signal(SIGTERM);
  EXPECT_EQ(proxy.proc().wait_exit(10s), 0) << proxy.proc().describe();
  proxy.proc().out().wait_closed(5s);
  return proxy.proc().out().lines();
}

std::size_t count_matching(const std::vector<std::string>& lines, const LinePredicate& predicate) {
  std::size_t n = 0;
  for (const auto& line : lines) n += predicate(line);
  return n;
}

std::uint64_t number(const std::string& line, std::string_view key) {
  auto text = json_field(line, key);
  return text ? std::stoull(*text) : 0;
}

TEST(AccessLogTest, EachRequestIsLoggedAsOneJsonLineWithEcsFields) {
  Stack stack = start_stack({"--drain-delay", "0"});
  std::string request = "GET /bytes/100?x=1 HTTP/1.1\r\nHost: test.local\r\nUser-Agent: itest/1.0\r\n\r\n";
  HttpResponse response = round_trip(stack.port(), request);
  ASSERT_EQ(response.status, 200) << response.error;

  auto line = stack.proxy.proc().wait_for_stdout(json_field_is("url.path", "/bytes/100"), kIo);
  ASSERT_TRUE(line.has_value()) << stack.proxy.proc().describe();
  EXPECT_TRUE(line->starts_with("{") && line->ends_with("}")) << *line;
  EXPECT_TRUE(json_field(*line, "@timestamp").has_value()) << *line;
  EXPECT_EQ(json_field(*line, "http.request.method"), "GET") << *line;
  EXPECT_EQ(json_field(*line, "http.response.status_code"), "200") << *line;
  EXPECT_EQ(json_field(*line, "network.protocol.version"), "1.1") << *line;
  EXPECT_EQ(number(*line, "http.request.bytes"), request.size()) << *line;
  EXPECT_EQ(number(*line, "http.response.bytes"), response.wire_bytes) << *line;
  EXPECT_EQ(number(*line, "http.response.body.bytes"), 100u) << *line;
  EXPECT_GT(number(*line, "event.duration"), 0u) << *line;
  EXPECT_EQ(json_field(*line, "client.address"), "127.0.0.1") << *line;
  EXPECT_EQ(json_field(*line, "user_agent.original"), "itest/1.0") << *line;
  EXPECT_EQ(json_field(*line, "apimeter.upstream.address"), stack.upstream.address()) << *line;
  EXPECT_FALSE(json_field(*line, "error.type").has_value()) << *line;

  std::vector<std::string> lines = stop_and_collect(stack.proxy);
  EXPECT_EQ(count_matching(lines, json_field_is("url.path", "/bytes/100")), 1u);
}

TEST(AccessLogTest, RequestBytesCountTheHeadAndTheBody) {
  Stack stack = start_stack();
  std::string request = body_request("POST", "/sink", std::string(1000, 'b'));
  HttpResponse response = round_trip(stack.port(), request);
  ASSERT_EQ(response.status, 200) << response.error;
  auto line = stack.proxy.proc().wait_for_stdout(json_field_is("url.path", "/sink"), kIo);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(json_field(*line, "http.request.method"), "POST") << *line;
  EXPECT_EQ(number(*line, "http.request.bytes"), request.size()) << *line;
  EXPECT_EQ(number(*line, "http.request.body.bytes"), 1000u) << *line;
  EXPECT_EQ(number(*line, "http.response.bytes"), response.wire_bytes) << *line;
}

TEST(AccessLogTest, ChunkedResponseBytesAreTheWireBytes) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), get_request("/bytes/70000?trailer=1"));
  ASSERT_EQ(response.status, 200) << response.error;
  ASSERT_TRUE(response.complete);
  auto line = stack.proxy.proc().wait_for_stdout(json_field_is("url.path", "/bytes/70000"), kIo);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(number(*line, "http.response.bytes"), response.wire_bytes) << *line;
  EXPECT_EQ(number(*line, "http.response.body.bytes"), 70000u) << *line;
}

TEST(AccessLogTest, EventDurationCoversTheUpstreamDelay) {
  Stack stack = start_stack();
  ASSERT_EQ(round_trip(stack.port(), get_request("/delay/300")).status, 200);
  auto line = stack.proxy.proc().wait_for_stdout(json_field_is("url.path", "/delay/300"), kIo);
  ASSERT_TRUE(line.has_value());
  EXPECT_GE(number(*line, "event.duration"), 300'000'000u) << *line;
  EXPECT_LT(number(*line, "event.duration"), 5'000'000'000u) << *line;
  EXPECT_GE(number(*line, "apimeter.upstream.duration"), 300'000'000u) << *line;
}

TEST(AccessLogTest, AnUpstreamTimeoutIsUpstreamTimeNotApimeterTime) {
  // The upstream leg ends with the exchange when the upstream never answered: the wait shows as upstream
  // duration, the same leg the CLIENT span and the overhead metric use.
  Stack stack = start_stack({"--upstream-response-timeout", "300ms"});
  ASSERT_EQ(round_trip(stack.port(), get_request("/delay/3000")).status, 504);
  auto line = stack.proxy.proc().wait_for_stdout(json_field_is("url.path", "/delay/3000"), kIo);
  ASSERT_TRUE(line.has_value());
  EXPECT_GE(number(*line, "apimeter.upstream.duration"), 300'000'000u) << *line;
  EXPECT_LE(number(*line, "apimeter.upstream.duration"), number(*line, "event.duration")) << *line;
}

TEST(AccessLogTest, ConfiguredRouteTemplateIsTheRouteLabel) {
  std::string config = write_temp_file("routes.yaml",
                                       "routes:\n"
                                       "  - name: product\n"
                                       "    template: /api/products/{id}\n"
                                       "  - name: bytes\n"
                                       "    prefix: /bytes/\n");
  Stack stack = start_stack({"--config", config});
  round_trip(stack.port(), get_request("/api/products/42"));
  round_trip(stack.port(), get_request("/bytes/3"));
  auto product = stack.proxy.proc().wait_for_stdout(json_field_is("url.path", "/api/products/42"), kIo);
  ASSERT_TRUE(product.has_value());
  EXPECT_EQ(json_field(*product, "http.route"), "/api/products/{id}") << *product;
  auto bytes = stack.proxy.proc().wait_for_stdout(json_field_is("url.path", "/bytes/3"), kIo);
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ(json_field(*bytes, "http.route"), "/bytes/*") << *bytes;
}

TEST(AccessLogTest, LocalRepliesAreLoggedWithTheirStatusAndErrorType) {
  Stack stack = start_stack({"--upstream-response-timeout", "200ms", "--max-request-body-bytes", "10"});
  ASSERT_EQ(round_trip(stack.port(), "GET /no-host HTTP/1.1\r\n\r\n").status, 400);
  ASSERT_EQ(round_trip(stack.port(), body_request("POST", "/too-big", std::string(20, 'x'))).status, 413);
  ASSERT_EQ(round_trip(stack.port(), get_request("/delay/2000")).status, 504);
  // A request refused while parsing its head may have no path to log; its status identifies it.
  for (auto [status, error_type] : {std::pair{"400", "bad_request"}, std::pair{"413", "body_too_large"},
                                    std::pair{"504", "upstream_timeout"}}) {
    auto line = stack.proxy.proc().wait_for_stdout(json_field_is("http.response.status_code", status), kIo);
    ASSERT_TRUE(line.has_value()) << status << " was not logged\n" << stack.proxy.proc().describe();
    EXPECT_EQ(json_field(*line, "error.type"), error_type) << *line;
  }
}

TEST(AccessLogTest, RefusedUpstreamIsLoggedAsUpstreamRefused) {
  Apimeter proxy = start_apimeter({"--upstream", "127.0.0.1:" + std::to_string(unused_port())});
  ASSERT_EQ(round_trip(proxy.port, get_request("/anything")).status, 502);
  auto line = proxy.proc().wait_for_stdout(json_field_is("url.path", "/anything"), kIo);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(json_field(*line, "http.response.status_code"), "502") << *line;
  EXPECT_EQ(json_field(*line, "error.type"), "upstream_refused") << *line;
}

TEST(AccessLogTest, ResponseCutMidBodyIsLoggedWithAnErrorType) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), get_request("/close-mid-body/10000"));
  ASSERT_FALSE(response.complete);
  auto line = stack.proxy.proc().wait_for_stdout(json_field_is("url.path", "/close-mid-body/10000"), kIo);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(json_field(*line, "http.response.status_code"), "200") << *line;
  EXPECT_EQ(number(*line, "http.response.body.bytes"), 5000u) << *line;
  EXPECT_TRUE(json_field(*line, "error.type").has_value()) << "a truncated response was logged as a success:\n"
                                                          << *line;
}

TEST(AccessLogTest, WebSocketTunnelIsLoggedWith101WhenItEnds) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(get_request("/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
                                                 std::string(ws::kSampleKey) + "\r\nSec-WebSocket-Version: 13\r\n")));
  ASSERT_EQ(read_response(client, kIo).status, 101);
  ASSERT_TRUE(client.send(websocket_client_frame(ws::kClose, std::string("\x03\xe8", 2))));
  ASSERT_TRUE(client.wait_closed(kIo));
  client.close();  // the tunnel ends when both directions have
  auto line = stack.proxy.proc().wait_for_stdout(json_field_is("url.path", "/ws"), kIo);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(json_field(*line, "http.response.status_code"), "101") << *line;
}

TEST(AccessLogTest, AccessLogOffWritesNoLines) {
  Stack stack = start_stack({"--access-log", "off", "--drain-delay", "0"});
  ASSERT_EQ(round_trip(stack.port(), get_request("/bytes/3")).status, 200);
  std::vector<std::string> lines = stop_and_collect(stack.proxy);
  EXPECT_TRUE(lines.empty()) << stack.proxy.proc().describe();
}

TEST(AccessLogTest, AccessLogFileGetsOneLinePerRequestAndStdoutNone) {
  std::string path = write_temp_file("access.log", "");
  Stack stack = start_stack({"--access-log", path, "--drain-delay", "0"});
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(round_trip(stack.port(), get_request("/bytes/" + std::to_string(i + 1))).status, 200);
  std::vector<std::string> out = stop_and_collect(stack.proxy);
  EXPECT_TRUE(out.empty()) << stack.proxy.proc().describe();
  std::ifstream file(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(count_matching(lines, json_field_is("url.path", "/bytes/" + std::to_string(i + 1))), 1u);
}

}  // namespace
}  // namespace apimeter::test
