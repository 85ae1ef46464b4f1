// The 0.0.4 text exposition of a registry: every line parses, families are declared before their samples,
// histogram buckets are cumulative and end at +Inf == _count.
#include "metrics/text_serializer.hpp"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>
#include <cmath>
#include <limits>

#include "metrics/metrics_registry.hpp"
#include "metrics_test_support.hpp"

namespace apimeter::metrics {
namespace {

using namespace std::chrono_literals;

TEST(TextSerializer, RegistryOutputParsesAsPrometheusText) {
  testing::FakeClock clock;
  auto settings = std::make_shared<MetricsSettings>();
  settings->service = "shop";
  settings->route_labels = {"/api/orders/{id}"};
  settings->user_source = {UserIdentitySource::Kind::header, "X-User"};
  MetricsRegistry registry(2, {"1.0", "r"}, settings, clock.clock());
  for (int i = 0; i < 50; ++i)
    registry.worker(i % 2).record(testing::Exchange("GET", "/api/orders/1", i % 7 == 0 ? 500 : 200)
                                      .route(0, "/api/orders/{id}")
                                      .took(std::chrono::milliseconds(i * 5))
                                      .user(i % 3 == 0 ? "alice" : "bob"));
  registry.worker(0).record(testing::Exchange("DELETE", "/users/\"odd\"/x"));  // quotes in a raw path
  const std::string text = serialize_text(registry.Collect());

  const std::regex help_re(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
  const std::regex type_re(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  const std::regex sample_re(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([-+]?[0-9.eE+-]+|\+Inf|-Inf|Nan|NaN))");
  const std::regex le_re(R"re(le="([^"]+)")re");
  std::map<std::string, std::string> types;
  std::string family;
  std::map<std::string, double> last_bucket;  // per series (labels without le)
  std::istringstream in(text);
  int samples = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    std::smatch m;
    if (std::regex_match(line, m, help_re)) continue;
    if (std::regex_match(line, m, type_re)) {
      family = m[1];
      types[family] = m[2];
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, m, sample_re)) << "bad line: " << line;
    ++samples;
    const std::string name = m[1];
    ASSERT_TRUE(name.starts_with(family)) << line;
    if (types[family] == "histogram" && name.ends_with("_bucket")) {
      const std::string labels = m[3];
      std::string series = std::regex_replace(labels, le_re, "");
      const double value = std::stod(m[4]);
      EXPECT_GE(value, last_bucket[series]) << "buckets must be cumulative: " << line;
      last_bucket[series] = std::regex_search(labels, le_re) && labels.find("le=\"+Inf\"") != std::string::npos ? -1 : value;
    }
  }
  EXPECT_GT(samples, 50);
  EXPECT_EQ(types["http_server_request_duration_seconds"], "histogram");
  EXPECT_EQ(types["apimeter_received_bytes_total"], "counter");
  EXPECT_EQ(types["apimeter_user_requests_total"], "counter");
  EXPECT_NE(
      text.find(
          "http_server_request_duration_seconds_bucket{service=\"shop\",http_route=\"/api/orders/{id}\","
          "http_request_method=\"GET\",network_protocol_version=\"1.1\",http_response_status_code=\"200\",le="
          "\"0.005\"}"),
      std::string::npos)
      << text.substr(0, 2000);
  EXPECT_NE(text.find("http_route=\"/users/{token}/x\""), std::string::npos);
}

}  // namespace
}  // namespace apimeter::metrics

namespace apimeter::metrics {
namespace {

TEST(TextSerializer, WritesExactlyWhatPrometheusCppWrites) {
  using prometheus::ClientMetric;
  using prometheus::MetricFamily;
  using prometheus::MetricType;
  const double inf = std::numeric_limits<double>::infinity();
  MetricFamily counter{"c_total", "Help with \\ backslash", MetricType::Counter, {}};
  for (double v : {0.0, 1.0, 0.1, 0.30000000000000004, 1e20, 123456789012345678.0, 1e-7, -2.5, std::nan("")}) {
    ClientMetric m;
    m.label = {{"a", "x\ny\"z\\"}, {"b", "plain"}};
    m.counter.value = v;
    counter.metric.push_back(m);
  }
  MetricFamily gauge{"g", "", MetricType::Gauge, {}};
  ClientMetric g;
  g.gauge.value = -inf;
  g.timestamp_ms = 1700000000123;
  gauge.metric.push_back(g);
  MetricFamily histogram{"h_seconds", "H.", MetricType::Histogram, {}};
  ClientMetric h;
  h.histogram.sample_count = 7;
  h.histogram.sample_sum = 1.25;
  h.histogram.bucket = {{1, 0.005}, {5, 67108864}, {6, 1e-7}};  // no +Inf: the writer adds it
  histogram.metric.push_back(h);
  h.label = {{"route", "/a"}};
  h.histogram.bucket.push_back({7, inf});
  histogram.metric.push_back(h);
  MetricFamily summary{"s", "S.", MetricType::Summary, {}};
  ClientMetric s;
  s.summary.sample_count = 3;
  s.summary.sample_sum = 0.5;
  s.summary.quantile = {{0.5, 0.1}, {0.99, 0.4}};
  summary.metric.push_back(s);
  MetricFamily untyped{"u", "", MetricType::Untyped, {}};
  ClientMetric u;
  u.untyped.value = 42;
  untyped.metric.push_back(u);
  MetricFamily empty{"e", "", MetricType::Gauge, {}};
  const std::vector<MetricFamily> all = {counter, gauge, histogram, summary, untyped, empty};
  EXPECT_EQ(serialize_text(all), serialize_text_reference(all));
}

TEST(TextSerializer, RegistryOutputIsByteIdenticalToPrometheusCpp) {
  testing::FakeClock clock;
  auto settings = std::make_shared<MetricsSettings>();
  settings->service = "shop";
  settings->route_labels = {"/api/orders/{id}"};
  settings->user_source = {UserIdentitySource::Kind::header, "X-User"};
  MetricsRegistry registry(1, {"1.0", "r"}, settings, clock.clock());
  for (int i = 0; i < 20; ++i)
    registry.worker(0).record(testing::Exchange("GET", "/api/orders/1", 200 + i % 3).route(0, "/api/orders/{id}").user("u" + std::to_string(i)));
  const auto families = registry.Collect();
  EXPECT_EQ(serialize_text(families), serialize_text_reference(families));
}

}  // namespace
}  // namespace apimeter::metrics
