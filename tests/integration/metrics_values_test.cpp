// Traffic metrics with exact values: known traffic through a real apimeter to the demo upstream, then a
// scrape of admin /metrics whose counters, bucket counts and label sets must match that traffic exactly.
// Exposition formats, Prometheus itself, cardinality, reload and metrics.enabled=false have their own files.
#include <unistd.h>

#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

constexpr std::string_view kDuration = "http_server_request_duration_seconds";

// Routes on the demo upstream's endpoints; every test's proxy also identifies users by X-User-Id.
constexpr std::string_view kRoutes =
    "service: shop\n"
    "user_identity:\n"
    "  source: header\n"
    "routes:\n"
    "  - name: status\n"
    "    template: /status/{code}\n"
    "  - name: sink\n"
    "    exact: /sink\n"
    "    methods: [POST]\n"
    "  - name: delay\n"
    "    template: /delay/{ms}\n";

// A demo upstream and an apimeter with kRoutes plus `more` (YAML) and `args`; no access log.
Stack start_metered_stack(std::string_view more = "", std::vector<std::string> args = {}) {
  std::string config = write_temp_file("apimeter.yaml", std::string(kRoutes) + std::string(more));
  std::vector<std::string> all{"--config", config, "--access-log", "off"};
  all.insert(all.end(), args.begin(), args.end());
  return start_stack(std::move(all));
}

// The labels of a request family series answered by the upstream.
MetricLabels request_labels(std::string_view route, std::string_view method, std::string_view status) {
  return {{"service", "shop"},
          {"http_route", std::string(route)},
          {"http_request_method", std::string(method)},
          {"http_response_status_code", std::string(status)}};
}

MetricLabels with(MetricLabels labels, std::string key, std::string value) {
  labels[std::move(key)] = std::move(value);
  return labels;
}

// Sends `request` on a new connection and expects `status` back, complete.
void expect_status(std::uint16_t port, std::string_view request, int status) {
  HttpResponse response = round_trip(port, request);
  EXPECT_EQ(response.status, status) << request << response.error;
  EXPECT_TRUE(response.complete) << request << response.error;
}

std::string describe(const MetricsText& metrics, std::string_view name) {
  std::string text;
  for (const auto* sample : metrics.select(name)) {
    std::string labels;
    for (const auto& [k, v] : sample->labels) labels += (labels.empty() ? "" : ",") + k + "=\"" + v + "\"";
    text += sample->name + "{" + labels + "} " + std::to_string(sample->value) + "\n";
  }
  return text;
}

TEST(MetricsValuesTest, RequestsAreCountedPerRouteMethodAndStatusCode) {
  Stack stack = start_metered_stack();
  for (int i = 0; i < 3; ++i) expect_status(stack.port(), get_request("/status/200"), 200);
  for (int i = 0; i < 2; ++i) expect_status(stack.port(), get_request("/status/404"), 404);
  expect_status(stack.port(), get_request("/status/503"), 503);
  for (int i = 0; i < 2; ++i) expect_status(stack.port(), get_request("/status/201", "", "PUT"), 201);

  MetricsText metrics = scrape_after_requests(stack.proxy.admin_port, 8);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  std::string count = std::string(kDuration) + "_count";
  EXPECT_EQ(metrics.value(count, request_labels("/status/{code}", "GET", "200")), 3)
      << describe(metrics, count);
  EXPECT_EQ(metrics.value(count, request_labels("/status/{code}", "GET", "404")), 2)
      << describe(metrics, count);
  EXPECT_EQ(metrics.value(count, request_labels("/status/{code}", "GET", "503")), 1)
      << describe(metrics, count);
  EXPECT_EQ(metrics.value(count, request_labels("/status/{code}", "PUT", "201")), 2)
      << describe(metrics, count);
  EXPECT_EQ(metrics.sum(count), 8) << describe(metrics, count);
  EXPECT_EQ(metrics.select(count).size(), 4u) << describe(metrics, count);
  // Each series' +Inf bucket is its count; the wire counters exist for the same label sets.
  EXPECT_EQ(metrics.value(std::string(kDuration) + "_bucket",
                          with(request_labels("/status/{code}", "GET", "200"), "le", "+Inf")),
            3);
  EXPECT_EQ(metrics.select("apimeter_received_bytes_total").size(), 4u);
  EXPECT_EQ(metrics.select("apimeter_sent_bytes_total").size(), 4u);
  auto problems = histogram_problems(metrics);
  EXPECT_TRUE(problems.empty()) << problems.front();
}

TEST(MetricsValuesTest, SlowResponseLandsInTheBucketOfItsDuration) {
  Stack stack = start_metered_stack();
  expect_status(stack.port(), get_request("/delay/300"), 200);
  for (int i = 0; i < 2; ++i) expect_status(stack.port(), get_request("/delay/0"), 200);

  MetricsText metrics = scrape_after_requests(stack.proxy.admin_port, 3);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  MetricLabels labels = request_labels("/delay/{ms}", "GET", "200");
  std::string bucket = std::string(kDuration) + "_bucket";
  EXPECT_EQ(metrics.value(bucket, with(labels, "le", "0.1")), 2) << describe(metrics, bucket);
  EXPECT_EQ(metrics.value(bucket, with(labels, "le", "0.25")), 2) << describe(metrics, bucket);
  EXPECT_EQ(metrics.value(bucket, with(labels, "le", "0.5")), 3) << describe(metrics, bucket);
  EXPECT_EQ(metrics.value(bucket, with(labels, "le", "+Inf")), 3);
  EXPECT_EQ(metrics.value(std::string(kDuration) + "_count", labels), 3);
  double sum = metrics.value(std::string(kDuration) + "_sum", labels).value_or(-1);
  EXPECT_GE(sum, 0.3);
  EXPECT_LT(sum, 0.5 + 2 * 0.25);

  // The upstream hop saw the same delay, first byte included; the proxy's own share is what is left.
  MetricLabels route{{"service", "shop"}, {"http_route", "/delay/{ms}"}};
  EXPECT_EQ(metrics.value("http_client_request_duration_seconds_bucket", with(route, "le", "0.25")), 2);
  EXPECT_EQ(metrics.value("http_client_request_duration_seconds_bucket", with(route, "le", "0.5")), 3);
  double upstream_sum = metrics.value("http_client_request_duration_seconds_sum", route).value_or(-1);
  double ttfb_sum = metrics.value("apimeter_upstream_time_to_first_byte_seconds_sum", route).value_or(-1);
  double overhead_sum = metrics.value("apimeter_proxy_overhead_seconds_sum", route).value_or(-1);
  EXPECT_GE(ttfb_sum, 0.3);
  EXPECT_GE(upstream_sum, ttfb_sum);
  EXPECT_LE(upstream_sum, sum);
  EXPECT_GE(overhead_sum, 0);
  EXPECT_NEAR(overhead_sum, sum - upstream_sum, 1e-3);
  EXPECT_EQ(metrics.value("apimeter_proxy_overhead_seconds_count", route), 3);
  auto problems = histogram_problems(metrics);
  EXPECT_TRUE(problems.empty()) << problems.front();
}

TEST(MetricsValuesTest, RouteBucketsReplaceTheDefaultDurationBounds) {
  Stack stack = start_metered_stack(
      "  - name: slow\n"
      "    prefix: /slow-head/\n"
      "    buckets: [100ms, 400ms, 1s]\n");
  expect_status(stack.port(), get_request("/slow-head/200"), 200);
  expect_status(stack.port(), get_request("/status/200"), 200);

  MetricsText metrics = scrape_after_requests(stack.proxy.admin_port, 2);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  std::string bucket = std::string(kDuration) + "_bucket";
  std::set<std::string> bounds;
  for (const auto* sample : metrics.select(bucket, {{"http_route", "/slow-head/*"}}))
    bounds.insert(sample->labels.at("le"));
  EXPECT_EQ(bounds, (std::set<std::string>{"0.1", "0.4", "1", "+Inf"})) << describe(metrics, bucket);
  EXPECT_EQ(metrics.value(bucket, {{"http_route", "/slow-head/*"}, {"le", "0.1"}}), 0);
  EXPECT_EQ(metrics.value(bucket, {{"http_route", "/slow-head/*"}, {"le", "0.4"}}), 1);
  // Other routes keep the global (default) bounds: 14 finite ones and +Inf.
  EXPECT_EQ(metrics.select(bucket, {{"http_route", "/status/{code}"}}).size(), 15u);
}

TEST(MetricsValuesTest, UpstreamAnsweredErrorsCarryNoErrorType) {
  Stack stack = start_metered_stack();
  expect_status(stack.port(), get_request("/status/500"), 500);
  expect_status(stack.port(), get_request("/status/502"), 502);
  expect_status(stack.port(), get_request("/status/504"), 504);
  expect_status(stack.port(), get_request("/status/200"), 200);

  MetricsText metrics = scrape_after_requests(stack.proxy.admin_port, 4);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  std::string count = std::string(kDuration) + "_count";
  ASSERT_EQ(metrics.select(count).size(), 4u) << describe(metrics, count);
  for (const auto* sample : metrics.select(count)) {
    std::set<std::string> keys;
    for (const auto& [key, value] : sample->labels) keys.insert(key);
    EXPECT_EQ(keys, (std::set<std::string>{"service", "http_route", "http_request_method",
                                           "network_protocol_version", "http_response_status_code"}))
        << describe(metrics, count);
  }
  EXPECT_EQ(metrics.value(count, request_labels("/status/{code}", "GET", "502")), 1);
}

TEST(MetricsValuesTest, RequestSeriesAreSplitByProtocolVersion) {
  Stack stack = start_metered_stack();
  expect_status(stack.port(), get_request("/status/200"), 200);
  expect_status(stack.port(), "GET /status/200 HTTP/1.0\r\nHost: shop\r\n\r\n", 200);
  expect_status(stack.port(), "GET /status/200 HTTP/1.0\r\nHost: shop\r\n\r\n", 200);
  MetricsText metrics = scrape_after_requests(stack.proxy.admin_port, 3);
  const std::string count = std::string(kDuration) + "_count";
  // OpenTelemetry's network.protocol.version: "1.0" and "1.1" (and "2" for HTTP/2).
  EXPECT_EQ(metrics.sum(count, {{"network_protocol_version", "1.1"}}), 1) << describe(metrics, count);
  EXPECT_EQ(metrics.sum(count, {{"network_protocol_version", "1.0"}}), 2) << describe(metrics, count);
}

TEST(MetricsValuesTest, UpstreamRefusedIsCountedAs502WithErrorType) {
  std::string config = write_temp_file("apimeter.yaml", std::string(kRoutes));
  Apimeter proxy = start_apimeter({"--config", config, "--access-log", "off", "--upstream",
                                   "127.0.0.1:" + std::to_string(unused_port())});
  for (int i = 0; i < 2; ++i) expect_status(proxy.port, get_request("/status/200"), 502);

  MetricsText metrics = scrape_after_requests(proxy.admin_port, 2);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  std::string count = std::string(kDuration) + "_count";
  EXPECT_EQ(metrics.value(count, with(request_labels("/status/{code}", "GET", "502"), "error_type",
                                      "upstream_refused")),
            2)
      << describe(metrics, count);
  EXPECT_EQ(metrics.select(count).size(), 1u) << describe(metrics, count);
  EXPECT_GE(metrics.sum("apimeter_upstream_connect_errors_total"), 1)
      << describe(metrics, "apimeter_upstream_connect_errors_total");
}

TEST(MetricsValuesTest, UpstreamTimeoutAndNoRouteCarryTheirErrorType) {
  Stack stack =
      start_metered_stack("", {"--upstream-response-timeout", "200ms", "--unmatched-routes", "reject"});
  expect_status(stack.port(), get_request("/delay/3000"), 504);
  expect_status(stack.port(), get_request("/nothing/here"), 404);
  expect_status(stack.port(), get_request("/status/404"), 404);

  MetricsText metrics = scrape_after_requests(stack.proxy.admin_port, 3);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  std::string count = std::string(kDuration) + "_count";
  EXPECT_EQ(metrics.value(
                count, with(request_labels("/delay/{ms}", "GET", "504"), "error_type", "upstream_timeout")),
            1)
      << describe(metrics, count);
  EXPECT_EQ(metrics.value(count, {{"http_response_status_code", "404"}, {"error_type", "no_route"}}), 1)
      << describe(metrics, count);
  // The upstream's own 404 is an answer, not a proxy failure.
  auto upstream_404 = metrics.select(count, request_labels("/status/{code}", "GET", "404"));
  ASSERT_EQ(upstream_404.size(), 1u) << describe(metrics, count);
  EXPECT_FALSE(upstream_404.front()->labels.contains("error_type")) << describe(metrics, count);
}

TEST(MetricsValuesTest, MethodsOutsideTheStandardSetAreCountedAsOther) {
  Stack stack = start_metered_stack();
  expect_status(stack.port(), get_request("/status/200", "", "PURGE"), 200);
  expect_status(stack.port(), get_request("/status/200", "", "FOO"), 200);
  expect_status(stack.port(), get_request("/status/200", "", "PATCH"), 200);
  expect_status(stack.port(), get_request("/status/200", "", "DELETE"), 200);

  MetricsText metrics = scrape_after_requests(stack.proxy.admin_port, 4);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  std::string count = std::string(kDuration) + "_count";
  EXPECT_EQ(metrics.value(count, request_labels("/status/{code}", "_OTHER", "200")), 2)
      << describe(metrics, count);
  EXPECT_EQ(metrics.value(count, request_labels("/status/{code}", "PATCH", "200")), 1);
  EXPECT_EQ(metrics.value(count, request_labels("/status/{code}", "DELETE", "200")), 1);
  EXPECT_EQ(metrics.label_values(count, "http_request_method"),
            (std::set<std::string>{"_OTHER", "DELETE", "PATCH"}));
}

TEST(MetricsValuesTest, ConfiguredTemplateIsTheRouteLabelAndUnmatchedIdsAreTemplated) {
  Stack stack = start_metered_stack();
  expect_status(stack.port(), get_request("/status/200"), 200);
  expect_status(stack.port(), get_request("/status/204"), 204);
  expect_status(stack.port(), get_request("/bytes/10"), 200);
  expect_status(stack.port(), get_request("/bytes/20?x=1"), 200);
  expect_status(stack.port(), get_request("/items/550e8400-e29b-41d4-a716-446655440000"), 404);
  expect_status(stack.port(), get_request("/items/123e4567-E89B-12D3-A456-426614174000"), 404);
  expect_status(stack.port(), get_request("/days/2024-01-31/users/alice@example.com"), 404);
  // /sink is configured for POST only: a GET is unmatched and learned as a literal path.
  expect_status(stack.port(), get_request("/sink"), 200);

  MetricsText metrics = scrape_after_requests(stack.proxy.admin_port, 8);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  std::string count = std::string(kDuration) + "_count";
  EXPECT_EQ(metrics.sum(count, {{"http_route", "/status/{code}"}}), 2) << describe(metrics, count);
  EXPECT_EQ(metrics.sum(count, {{"http_route", "/bytes/{id}"}}), 2) << describe(metrics, count);
  EXPECT_EQ(metrics.sum(count, {{"http_route", "/items/{uuid}"}}), 2) << describe(metrics, count);
  EXPECT_EQ(metrics.sum(count, {{"http_route", "/days/{date}/users/{email}"}}), 1)
      << describe(metrics, count);
  EXPECT_EQ(metrics.sum(count, {{"http_route", "/sink"}, {"http_request_method", "GET"}}), 1)
      << describe(metrics, count);
  EXPECT_EQ(metrics.label_values(count, "http_route"),
            (std::set<std::string>{"/status/{code}", "/bytes/{id}", "/items/{uuid}",
                                   "/days/{date}/users/{email}", "/sink"}));
  // Learned: three templates. GET /sink shares its label with the configured route (one series per label
  // set), so it is not a learned template of its own.
  EXPECT_EQ(metrics.value("apimeter_learned_routes", {{"service", "shop"}}), 3)
      << http_get(stack.proxy.admin_port, "/routes").body;

  // /routes lists both kinds with their counts.
  HttpResponse routes = http_get(stack.proxy.admin_port, "/routes");
  ASSERT_EQ(routes.status, 200) << routes.error;
  EXPECT_NE(routes.body.find("template: /bytes/{id}"), std::string::npos) << routes.body;
  EXPECT_NE(routes.body.find("template: /items/{uuid}"), std::string::npos) << routes.body;
  EXPECT_NE(routes.body.find("/status/{code}"), std::string::npos) << routes.body;
}

TEST(MetricsValuesTest, RoutesReportPastedIntoTheConfigIsValidAndLabelsTheSameWay) {
  Stack stack = start_metered_stack();
  expect_status(stack.port(), get_request("/bytes/10"), 200);
  expect_status(stack.port(), get_request("/items/550e8400-e29b-41d4-a716-446655440000/parts/77"), 404);
  ASSERT_TRUE(scrape_after_requests(stack.proxy.admin_port, 2).error.empty());
  HttpResponse routes = http_get(stack.proxy.admin_port, "/routes");
  ASSERT_EQ(routes.status, 200) << routes.error;

  // The report is a `routes:` block: with the service line it is a whole config.
  std::string pasted = write_temp_file("pasted.yaml", "service: shop\n" + routes.body);
  RunResult check = run_to_completion(
      apimeter_bin(), {"check", "--config", pasted, "--upstream", stack.upstream.address()}, 10s);
  ASSERT_EQ(check.exit_code, 0) << routes.body << check.out_text() << check.err_text();

  // Loaded, the learned templates are configured routes with the same labels: nothing is learned.
  Apimeter proxy =
      start_apimeter({"--config", pasted, "--access-log", "off", "--upstream", stack.upstream.address()});
  expect_status(proxy.port, get_request("/bytes/99"), 200);
  expect_status(proxy.port, get_request("/items/123e4567-e89b-12d3-a456-426614174000/parts/1"), 404);
  MetricsText metrics = scrape_after_requests(proxy.admin_port, 2);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  std::string count = std::string(kDuration) + "_count";
  EXPECT_EQ(metrics.sum(count, {{"http_route", "/bytes/{id}"}}), 1) << describe(metrics, count);
  EXPECT_EQ(metrics.sum(count, {{"http_route", "/items/{uuid}/parts/{id}"}}), 1) << describe(metrics, count);
  EXPECT_EQ(metrics.value("apimeter_learned_routes", {{"service", "shop"}}), 0);
}

TEST(MetricsValuesTest, RouteLabelNameUsesTheConfiguredRouteName) {
  Stack stack = start_metered_stack("", {"--metrics-route-label", "name"});
  expect_status(stack.port(), get_request("/status/200"), 200);
  expect_status(stack.port(), body_request("POST", "/sink", "abc"), 200);
  expect_status(stack.port(), get_request("/bytes/5"), 200);

  MetricsText metrics = scrape_after_requests(stack.proxy.admin_port, 3);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  std::string count = std::string(kDuration) + "_count";
  // Unmatched paths have no name: they keep their learned template.
  EXPECT_EQ(metrics.label_values(count, "http_route"),
            (std::set<std::string>{"status", "sink", "/bytes/{id}"}))
      << describe(metrics, count);
}

TEST(MetricsValuesTest, BodySizesAndWireBytesAreCountedExactly) {
  Stack stack = start_metered_stack();
  std::uint64_t sink_in = 0, sink_out = 0, sink_response_bodies = 0;
  std::uint64_t bytes_in = 0, bytes_out = 0;
  auto exchange = [&](const std::string& request, std::uint64_t& in, std::uint64_t& out,
                      std::uint64_t* bodies) {
    HttpResponse response = round_trip(stack.port(), request);
    ASSERT_EQ(response.status, 200) << response.error;
    ASSERT_TRUE(response.complete) << response.error;
    in += request.size();
    out += response.wire_bytes;
    if (bodies != nullptr) *bodies += response.body_bytes;
  };
  exchange(body_request("POST", "/sink", demo_pattern(100)), sink_in, sink_out, &sink_response_bodies);
  exchange(body_request("POST", "/sink", demo_pattern(100)), sink_in, sink_out, &sink_response_bodies);
  exchange(body_request("POST", "/sink", demo_pattern(5000)), sink_in, sink_out, &sink_response_bodies);
  // Chunked: 300 body bytes in three chunks; the body size is counted de-chunked, the wire bytes as sent.
  std::string chunked =
      "POST /sink HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" +
      demo_pattern(100) + "\r\n64\r\n" + demo_pattern(100) + "\r\n64\r\n" + demo_pattern(100) +
      "\r\n0\r\n\r\n";
  exchange(chunked, sink_in, sink_out, &sink_response_bodies);
  exchange(get_request("/bytes/1000"), bytes_in, bytes_out, nullptr);
  exchange(get_request("/bytes/1000"), bytes_in, bytes_out, nullptr);
  exchange(get_request("/bytes/0"), bytes_in, bytes_out, nullptr);

  MetricsText metrics = scrape_after_requests(stack.proxy.admin_port, 7);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  MetricLabels sink{{"service", "shop"}, {"http_route", "/sink"}};
  MetricLabels bytes{{"service", "shop"}, {"http_route", "/bytes/{id}"}};
  const std::string request_size = "http_server_request_body_size_bytes";
  const std::string response_size = "http_server_response_body_size_bytes";
  EXPECT_EQ(metrics.value(request_size + "_count", sink), 4);
  EXPECT_EQ(metrics.value(request_size + "_sum", sink), 5500);
  EXPECT_EQ(metrics.value(request_size + "_bucket", with(sink, "le", "64")), 0);
  EXPECT_EQ(metrics.value(request_size + "_bucket", with(sink, "le", "256")), 2);
  EXPECT_EQ(metrics.value(request_size + "_bucket", with(sink, "le", "1024")), 3);
  EXPECT_EQ(metrics.value(request_size + "_bucket", with(sink, "le", "4096")), 3);
  EXPECT_EQ(metrics.value(request_size + "_bucket", with(sink, "le", "16384")), 4);
  EXPECT_EQ(metrics.value(response_size + "_count", sink), 4);
  EXPECT_EQ(metrics.value(response_size + "_sum", sink), static_cast<double>(sink_response_bodies));

  EXPECT_EQ(metrics.value(request_size + "_count", bytes), 3);
  EXPECT_EQ(metrics.value(request_size + "_sum", bytes), 0);
  EXPECT_EQ(metrics.value(response_size + "_count", bytes), 3);
  EXPECT_EQ(metrics.value(response_size + "_sum", bytes), 2000);
  EXPECT_EQ(metrics.value(response_size + "_bucket", with(bytes, "le", "64")), 1);
  EXPECT_EQ(metrics.value(response_size + "_bucket", with(bytes, "le", "256")), 1);
  EXPECT_EQ(metrics.value(response_size + "_bucket", with(bytes, "le", "1024")), 3);

  // Wire bytes, heads and framing included, exactly as the client sent and received them.
  EXPECT_EQ(metrics.value("apimeter_received_bytes_total", request_labels("/sink", "POST", "200")),
            static_cast<double>(sink_in));
  EXPECT_EQ(metrics.value("apimeter_sent_bytes_total", request_labels("/sink", "POST", "200")),
            static_cast<double>(sink_out));
  EXPECT_EQ(metrics.value("apimeter_received_bytes_total", request_labels("/bytes/{id}", "GET", "200")),
            static_cast<double>(bytes_in));
  EXPECT_EQ(metrics.value("apimeter_sent_bytes_total", request_labels("/bytes/{id}", "GET", "200")),
            static_cast<double>(bytes_out));
  auto problems = histogram_problems(metrics);
  EXPECT_TRUE(problems.empty()) << problems.front();
}

TEST(MetricsValuesTest, ActiveRequestsGaugesCountRequestsInFlight) {
  Stack stack = start_metered_stack();
  MetricLabels service{{"service", "shop"}};
  MetricLabels alice{{"service", "shop"}, {"user", "alice"}};
  {
    // alice's first requests, on one connection (so on one worker): she is listed from now on.
    RawConnection connection = RawConnection::connect(stack.port());
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(connection.send(get_request("/status/200", "X-User-Id: alice\r\n")));
      EXPECT_EQ(read_final_response(connection, kIo).status, 200);
    }
  }
  MetricsText before = scrape_until(stack.proxy.admin_port, [&](const MetricsText& m) {
    return m.sum(std::string(kDuration) + "_count") == 2 &&
           m.value("apimeter_client_connections_active", service) == 0;
  });
  ASSERT_EQ(before.value("http_server_active_requests", service), 0) << before.error;
  ASSERT_EQ(before.value("apimeter_user_requests_total", alice), 2)
      << describe(before, "apimeter_user_requests_total");

  // Several slow requests of alice on their own connections: the workers' listeners share them out, so
  // some run on a worker that has not served alice before. Each is in flight for everyone's gauges.
  constexpr int kInFlight = 12;
  std::vector<RawConnection> in_flight;
  for (int i = 0; i < kInFlight; ++i) {
    in_flight.push_back(RawConnection::connect(stack.port()));
    ASSERT_TRUE(in_flight.back().send(get_request("/delay/2500", "X-User-Id: alice\r\n")));
  }
  MetricsText during = scrape_until(
      stack.proxy.admin_port,
      [&](const MetricsText& m) { return m.value("http_server_active_requests", service) == kInFlight; },
      2000ms);
  EXPECT_EQ(during.value("http_server_active_requests", service), kInFlight)
      << describe(during, "http_server_active_requests");
  EXPECT_EQ(during.value("apimeter_client_connections_active", service), kInFlight);
  EXPECT_EQ(during.value("apimeter_user_active_requests", alice), kInFlight)
      << "alice is listed; every request of hers in flight counts, whichever worker serves it\n"
      << describe(during, "apimeter_user_active_requests")
      << describe(during, "apimeter_user_requests_total");
  // Not counted as requests until they complete.
  EXPECT_EQ(during.sum(std::string(kDuration) + "_count", {{"http_route", "/delay/{ms}"}}), 0);

  for (auto& connection : in_flight) EXPECT_EQ(read_final_response(connection, 10s).status, 200);
  MetricsText after = scrape_until(stack.proxy.admin_port, [&](const MetricsText& m) {
    return m.value("http_server_active_requests", service) == 0 &&
           m.sum(std::string(kDuration) + "_count") == 2 + kInFlight;
  });
  EXPECT_EQ(after.value("http_server_active_requests", service), 0)
      << describe(after, "http_server_active_requests");
  EXPECT_EQ(after.value("apimeter_user_active_requests", alice), 0)
      << describe(after, "apimeter_user_active_requests");
  EXPECT_EQ(after.sum(std::string(kDuration) + "_count", {{"http_route", "/delay/{ms}"}}), kInFlight);
  EXPECT_EQ(after.value("apimeter_user_requests_total", alice), 2 + kInFlight);
}
TEST(MetricsValuesTest, TopUsersAreListedAndOtherMakesTheSumOverUsersTheTotal) {
  Stack stack = start_metered_stack("", {"--metrics-top-users", "3"});
  auto send_as = [&](std::string_view user, int times) {
    for (int i = 0; i < times; ++i)
      expect_status(
          stack.port(),
          get_request("/status/200", user.empty() ? "" : "X-User-Id: " + std::string(user) + "\r\n"), 200);
  };
  // The heavy users first: at any scrape or tick the three heaviest so far are they, so no light user is
  // ever listed and every count is exact.
  send_as("alice", 12);
  send_as("bob", 8);
  send_as("carol", 6);
  for (int i = 0; i < 10; ++i) send_as("light-" + std::to_string(i), 1);
  send_as("", 4);

  MetricsText metrics = scrape_after_requests(stack.proxy.admin_port, 40);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  const std::string users = "apimeter_user_requests_total";
  auto user = [](std::string name) { return MetricLabels{{"service", "shop"}, {"user", std::move(name)}}; };
  EXPECT_EQ(metrics.value(users, user("alice")), 12) << describe(metrics, users);
  EXPECT_EQ(metrics.value(users, user("bob")), 8) << describe(metrics, users);
  EXPECT_EQ(metrics.value(users, user("carol")), 6) << describe(metrics, users);
  EXPECT_EQ(metrics.value(users, user("_other")), 10) << describe(metrics, users);
  EXPECT_EQ(metrics.value(users, user("_none")), 4) << describe(metrics, users);
  EXPECT_EQ(metrics.select(users).size(), 5u) << describe(metrics, users);
  EXPECT_EQ(metrics.sum(users), metrics.sum(std::string(kDuration) + "_count"));
  EXPECT_EQ(metrics.sum(users), 40);
  EXPECT_EQ(metrics.value("apimeter_distinct_users_last_minute", {{"service", "shop"}}), 13);
}

TEST(MetricsValuesTest, HashedUserIdsNeverExposeTheRawId) {
  Stack stack = start_metered_stack("", {"--metrics-hash-user-ids", "true"});
  for (int i = 0; i < 3; ++i)
    expect_status(stack.port(), get_request("/status/200", "X-User-Id: alice@example.com\r\n"), 200);
  expect_status(stack.port(), get_request("/status/200", "X-User-Id: bob\r\n"), 200);

  ASSERT_TRUE(scrape_after_requests(stack.proxy.admin_port, 4).error.empty());
  HttpResponse response = http_get(stack.proxy.admin_port, "/metrics");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body.find("alice"), std::string::npos);
  EXPECT_EQ(response.body.find("\"bob\""), std::string::npos);
  MetricsText metrics = parse_metrics_text(response.body);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  const std::string users = "apimeter_user_requests_total";
  std::set<double> counts;
  for (const auto* sample : metrics.select(users)) {
    const std::string& id = sample->labels.at("user");
    if (id == "_other" || id == "_none") continue;
    counts.insert(sample->value);
  }
  EXPECT_EQ(counts, (std::set<double>{1, 3})) << describe(metrics, users);
  HttpResponse stats = http_get(stack.proxy.admin_port, "/stats");
  EXPECT_EQ(stats.body.find("alice"), std::string::npos) << stats.body;
}

TEST(MetricsValuesTest, UserIdsNeedingEscapesStayValidLabels) {
  Stack stack = start_metered_stack();
  expect_status(stack.port(), get_request("/status/200", "X-User-Id: we\"ird\\user\r\n"), 200);
  MetricsText metrics = scrape_after_requests(stack.proxy.admin_port, 1);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  EXPECT_EQ(metrics.value("apimeter_user_requests_total", {{"user", "we\"ird\\user"}}), 1)
      << describe(metrics, "apimeter_user_requests_total");
}

TEST(MetricsValuesTest, StatsJsonReportsTheSameNumbersAsMetrics) {
  if (::access("/usr/bin/python3", X_OK) != 0)
    GTEST_SKIP() << "/usr/bin/python3 missing (used to read the JSON)";
  Stack stack = start_metered_stack();
  for (int i = 0; i < 3; ++i) expect_status(stack.port(), get_request("/status/200"), 200);
  expect_status(stack.port(), get_request("/status/503"), 503);
  expect_status(stack.port(), get_request("/status/500"), 500);
  expect_status(stack.port(), body_request("POST", "/sink", demo_pattern(300)), 200);
  expect_status(stack.port(), get_request("/delay/300"), 200);
  MetricsText metrics = scrape_after_requests(stack.proxy.admin_port, 7);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;

  HttpResponse stats = http_get(stack.proxy.admin_port, "/stats");
  ASSERT_EQ(stats.status, 200) << stats.error;
  EXPECT_TRUE(stats.header("content-type").value_or("").starts_with("application/json")) << stats.head;
  // Flattened by Python's json module into "path value" lines, routes keyed by their label.
  std::string script = write_temp_file("flatten.py", R"(import json, sys
doc = json.load(open(sys.argv[1]))
def walk(prefix, node):
    if isinstance(node, dict):
        for k, v in node.items():
            walk(prefix + "." + k if prefix else k, v)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            key = v.get("route", v.get("user", str(i))) if isinstance(v, dict) else str(i)
            walk(prefix + "[" + key + "]", v)
    else:
        print(prefix, json.dumps(node))
walk("", doc)
)");
  RunResult flat =
      run_to_completion("/usr/bin/python3", {script, write_temp_file("stats.json", stats.body)}, 60s);
  ASSERT_EQ(flat.exit_code, 0) << flat.err_text() << stats.body;
  std::map<std::string, double> values;
  for (const auto& line : flat.out) {
    auto space = line.rfind(' ');
    values[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  auto field = [&](const std::string& key) {
    auto it = values.find(key);
    return it == values.end() ? -1.0 : it->second;
  };
  EXPECT_EQ(field("version"), 2) << stats.body;
  EXPECT_EQ(field("requests_total"), 7) << stats.body;
  EXPECT_EQ(field("errors_5xx_total"), 2) << stats.body;
  EXPECT_EQ(field("received_bytes_total"), metrics.sum("apimeter_received_bytes_total")) << stats.body;
  EXPECT_EQ(field("sent_bytes_total"), metrics.sum("apimeter_sent_bytes_total")) << stats.body;
  EXPECT_EQ(field("active_requests"), 0) << stats.body;
  EXPECT_NEAR(field("last_minute.error_ratio"), 2.0 / 7, 1e-9) << stats.body;
  EXPECT_EQ(field("routes[/status/{code}].requests_total"), 5) << stats.body;
  EXPECT_EQ(field("routes[/status/{code}].errors_5xx_total"), 2) << stats.body;
  EXPECT_NEAR(field("routes[/status/{code}].error_ratio"), 0.4, 1e-9) << stats.body;
  EXPECT_EQ(field("routes[/sink].requests_total"), 1) << stats.body;
  EXPECT_EQ(field("routes[/delay/{ms}].requests_total"), 1) << stats.body;
  // One observation of a little over 300 ms; the internal log-linear buckets resolve it to within 10 %.
  EXPECT_GE(field("routes[/delay/{ms}].p50_seconds"), 0.27) << stats.body;
  EXPECT_LE(field("routes[/delay/{ms}].p99_seconds"), 1.0) << stats.body;
  EXPECT_GT(field("routes[/delay/{ms}].rate"), 0) << stats.body;
  EXPECT_LE(field("routes[/status/{code}].p50_seconds"), field("routes[/status/{code}].p95_seconds"))
      << stats.body;
  EXPECT_LE(field("routes[/status/{code}].p95_seconds"), field("routes[/status/{code}].p99_seconds"))
      << stats.body;
  // Per-route bytes add up to the process totals, which equal the wire-byte counters.
  double route_received = 0, route_sent = 0;
  for (const auto& [key, value] : values) {
    if (key.starts_with("routes[") && key.ends_with("].received_bytes_total")) route_received += value;
    if (key.starts_with("routes[") && key.ends_with("].sent_bytes_total")) route_sent += value;
  }
  EXPECT_EQ(route_received, field("received_bytes_total")) << stats.body;
  EXPECT_EQ(route_sent, field("sent_bytes_total")) << stats.body;
  EXPECT_GT(field("routes[/sink].received_bytes_rate"), 300.0 / field("window_seconds") - 1e-9) << stats.body;
  EXPECT_GT(field("last_minute.sent_bytes_rate"), 0) << stats.body;
  EXPECT_EQ(field("upstream_endpoints[0].attempts_total"), 7) << stats.body;
  EXPECT_EQ(field("upstream_endpoints[0].connect_errors_total"), 0) << stats.body;
  EXPECT_EQ(field("series.limit"), 50000) << stats.body;
  EXPECT_GT(field("series.active"), 0) << stats.body;
  EXPECT_EQ(field("series.dropped_total"), 0) << stats.body;
  EXPECT_EQ(field("learned_routes.limit"), 200) << stats.body;
  EXPECT_EQ(field("client_connections_limit"), 10000) << stats.body;
  EXPECT_EQ(field("tracing.enabled"), 0) << stats.body;  // false, as the flattener prints it
  EXPECT_GE(field("uptime_seconds"), field("window_seconds")) << stats.body;
}

}  // namespace
}  // namespace apimeter::test
