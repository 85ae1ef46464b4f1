// The /metrics exposition as third parties read it: Prometheus text 0.0.4 checked by `promtool check
// metrics`, OpenMetrics 1.0 (when Accept asks for it) parsed by the Python prometheus_client parser, and
// gzip (when Accept-Encoding allows it) inflating to the same text. promtool (Debian: prometheus) and
// prometheus_client (Debian: python3-prometheus-client) are installed by `make test`; without them the
// tests that need them skip and say so.
#include <zlib.h>

#include <unistd.h>

#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

constexpr std::string_view kPromtool = "/usr/bin/promtool";
// The system interpreter: Debian's python3-prometheus-client installs into its dist-packages.
constexpr std::string_view kPython = "/usr/bin/python3";
constexpr std::string_view kOpenMetricsAccept =
    "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n";

bool executable(std::string_view path) {
  return ::access(std::string(path).c_str(), X_OK) == 0;
}

// An apimeter whose exposition has every shape of series: configured, learned and _other-method routes,
// an upstream 5xx, a proxy failure with error_type, bodies, listed users (one needing escapes) and
// anonymous requests.
struct ExpositionStack {
  Stack stack;
  std::uint16_t admin() const { return stack.proxy.admin_port; }
};

ExpositionStack start_with_traffic() {
  std::string config = write_temp_file("apimeter.yaml",
                                       "service: shop\n"
                                       "user_identity:\n"
                                       "  source: header\n"
                                       "routes:\n"
                                       "  - name: status\n"
                                       "    template: /status/{code}\n"
                                       "  - name: sink\n"
                                       "    exact: /sink\n"
                                       "    buckets: [1ms, 10ms, 100ms, 1s]\n");
  ExpositionStack out{
      start_stack({"--config", config, "--access-log", "off", "--upstream-response-timeout", "100ms"})};
  std::uint16_t port = out.stack.port();
  const std::string requests[] = {
      get_request("/status/200", "X-User-Id: alice\r\n"),
      get_request("/status/200", "X-User-Id: alice\r\n"),
      get_request("/status/503", "X-User-Id: we\"ird\\user\r\n"),
      get_request("/status/200", "", "PURGE"),
      get_request("/bytes/2048"),
      get_request("/items/550e8400-e29b-41d4-a716-446655440000"),
      body_request("POST", "/sink", demo_pattern(700), "X-User-Id: bob\r\n"),
      get_request("/delay/1000"),  // 504 upstream_timeout
  };
  for (const auto& request : requests) {
    HttpResponse response = round_trip(port, request);
    EXPECT_NE(response.status, 0) << request << response.error;
  }
  EXPECT_TRUE(scrape_after_requests(out.admin(), std::size(requests)).error.empty());
  return out;
}

// Runs `program args` with a bound; the result.
RunResult run(std::string program, std::vector<std::string> args) {
  return run_to_completion(std::move(program), std::move(args), 60s);
}

// `text` without the process_* samples (CPU time and memory move between two scrapes).
std::string without_process_samples(std::string_view text) {
  std::string out;
  for (const auto& line : body_lines(text))
    if (!line.starts_with("process_")) out += line + "\n";
  return out;
}

// gunzip of `data`; nullopt when it is not a complete gzip stream.
std::optional<std::string> gunzip(std::string_view data) {
  z_stream stream{};
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) return std::nullopt;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char chunk[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(chunk);
    stream.avail_out = sizeof chunk;
    rc = inflate(&stream, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - stream.avail_out);
    if (rc == Z_BUF_ERROR && stream.avail_in == 0) break;
  }
  bool whole = rc == Z_STREAM_END && stream.avail_in == 0;
  inflateEnd(&stream);
  if (!whole) return std::nullopt;
  return out;
}

TEST(MetricsExpositionTest, PromtoolAcceptsTheTextExposition) {
  if (!executable(kPromtool))
    GTEST_SKIP() << kPromtool << " missing (Debian package prometheus; make test installs it)";
  ExpositionStack s = start_with_traffic();
  HttpResponse response = http_get(s.admin(), "/metrics");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  ASSERT_NE(response.body.find("error_type=\"upstream_timeout\""), std::string::npos) << response.body;
  ASSERT_NE(response.body.find("user=\"we\\\"ird\\\\user\""), std::string::npos);

  std::string file = write_temp_file("metrics.txt", response.body);
  RunResult check =
      run("/bin/sh", {"-c", "exec \"$0\" check metrics < \"$1\"", std::string(kPromtool), file});
  EXPECT_EQ(check.exit_code, 0) << check.out_text() << check.err_text();
  EXPECT_EQ(check.out_text() + check.err_text(), "") << "promtool found problems";

  MetricsText metrics = parse_metrics_text(response.body);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  auto problems = histogram_problems(metrics);
  EXPECT_TRUE(problems.empty()) << problems.front();
}

TEST(MetricsExpositionTest, OpenMetricsIsServedWhenAskedAndParsesWithPrometheusClient) {
  if (!executable(kPython)) GTEST_SKIP() << kPython << " missing";
  ExpositionStack s = start_with_traffic();
  HttpResponse response = http_get(s.admin(), "/metrics", kOpenMetricsAccept);
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.header("content-type"), "application/openmetrics-text; version=1.0.0; charset=utf-8");
  ASSERT_TRUE(response.body.ends_with("\n# EOF\n"))
      << response.body.substr(response.body.size() - std::min<std::size_t>(200, response.body.size()));
  EXPECT_EQ(response.body.find("# EOF"), response.body.size() - 6) << "# EOF before the end";
  EXPECT_NE(response.body.find("# UNIT http_server_request_duration_seconds seconds\n"), std::string::npos);
  EXPECT_NE(response.body.find("http_server_request_duration_seconds_created{"), std::string::npos);

  // The parser re-renders every sample in the text format, so the values can be compared below.
  std::string script = write_temp_file("parse_openmetrics.py", R"(import sys
try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError as error:
    print("prometheus_client missing:", error, file=sys.stderr)
    sys.exit(3)
def esc(v):
    return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")
text = open(sys.argv[1], encoding="utf-8").read()
out = []
for family in text_string_to_metric_families(text):
    out.append("# TYPE %s %s" % (family.name, family.type))
    for s in family.samples:
        labels = ",".join('%s="%s"' % (k, esc(v)) for k, v in sorted(s.labels.items()))
        out.append("%s{%s} %r" % (s.name, labels, float(s.value)))
print("\n".join(out))
)");
  std::string file = write_temp_file("metrics.om", response.body);
  RunResult parsed = run(std::string(kPython), {script, file});
  if (parsed.exit_code == 3)
    GTEST_SKIP() << "python3 prometheus_client missing (Debian package python3-prometheus-client; make test "
                    "installs it)";
  ASSERT_EQ(parsed.exit_code, 0) << parsed.err_text();
  MetricsText om = parse_metrics_text(parsed.out_text());
  ASSERT_TRUE(om.error.empty()) << om.error;
  EXPECT_EQ(om.types["http_server_request_duration_seconds"], "histogram");
  EXPECT_EQ(om.types["apimeter_received_bytes"], "counter");
  EXPECT_EQ(om.types["apimeter_user_requests"], "counter");

  // Request families and user counters carry the same values as the text exposition (traffic has stopped).
  MetricsText text = scrape_metrics(s.admin());
  ASSERT_TRUE(text.error.empty()) << text.error;
  // Bucket bounds are canonical floats in OpenMetrics ("1.0") and shortest in the text format ("1").
  auto canonical = [](MetricLabels labels) {
    if (auto le = labels.find("le"); le != labels.end() && le->second != "+Inf") {
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, "%.17g", std::strtod(le->second.c_str(), nullptr));
      le->second = buffer;
    }
    return labels;
  };
  for (auto& sample : om.samples) sample.labels = canonical(sample.labels);
  std::size_t compared = 0;
  for (const auto& sample : text.samples) {
    if (!sample.name.starts_with("http_server_") && !sample.name.starts_with("apimeter_received_bytes") &&
        !sample.name.starts_with("apimeter_sent_bytes") && !sample.name.starts_with("apimeter_user_requests"))
      continue;
    auto found = om.value(sample.name, canonical(sample.labels));
    ASSERT_TRUE(found.has_value()) << "not in the OpenMetrics output: " << sample.name
                                   << " le=" << (sample.labels.contains("le") ? sample.labels.at("le") : "");
    EXPECT_NEAR(*found, sample.value, 1e-9 * std::max(1.0, std::abs(sample.value))) << sample.name;
    ++compared;
  }
  EXPECT_GT(compared, 100u);
}

TEST(MetricsExpositionTest, GzipScrapeInflatesToTheSameText) {
  ExpositionStack s = start_with_traffic();
  for (std::string_view accept : std::initializer_list<std::string_view>{"", kOpenMetricsAccept}) {
    HttpResponse plain = http_get(s.admin(), "/metrics", accept);
    HttpResponse zipped = http_get(s.admin(), "/metrics", std::string(accept) + "Accept-Encoding: gzip\r\n");
    ASSERT_EQ(plain.status, 200) << plain.error;
    ASSERT_EQ(zipped.status, 200) << zipped.error;
    EXPECT_FALSE(plain.header("content-encoding").has_value());
    EXPECT_EQ(zipped.header("content-encoding"), "gzip");
    EXPECT_EQ(zipped.header("content-type"), plain.header("content-type"));
    auto vary = zipped.header("vary");
    EXPECT_TRUE(vary && vary->find("Accept-Encoding") != std::string::npos) << zipped.head;
    auto inflated = gunzip(zipped.body);
    ASSERT_TRUE(inflated.has_value()) << "not a gzip stream (" << zipped.body.size() << " bytes)";
    EXPECT_LT(zipped.body.size(), inflated->size() / 3) << "barely compressed";
    EXPECT_EQ(without_process_samples(*inflated), without_process_samples(plain.body)) << accept;
  }
}

TEST(MetricsExpositionTest, GzipIsOnlyUsedWhenTheScraperAcceptsIt) {
  ExpositionStack s = start_with_traffic();
  for (std::string_view refused : std::initializer_list<std::string_view>{
           "Accept-Encoding: identity\r\n", "Accept-Encoding: gzip;q=0\r\n", "Accept-Encoding: br\r\n"}) {
    HttpResponse response = http_get(s.admin(), "/metrics", refused);
    ASSERT_EQ(response.status, 200) << response.error;
    EXPECT_FALSE(response.header("content-encoding").has_value()) << refused;
    EXPECT_TRUE(response.body.starts_with("# HELP ")) << refused;
  }
  for (std::string_view accepted : std::initializer_list<std::string_view>{
           "Accept-Encoding: gzip, deflate, br\r\n", "Accept-Encoding: br;q=1.0, GZIP;q=0.5\r\n"}) {
    HttpResponse response = http_get(s.admin(), "/metrics", accepted);
    ASSERT_EQ(response.status, 200) << response.error;
    EXPECT_EQ(response.header("content-encoding"), "gzip") << accepted;
    EXPECT_TRUE(gunzip(response.body).has_value()) << accepted;
  }
}

}  // namespace
}  // namespace apimeter::test
