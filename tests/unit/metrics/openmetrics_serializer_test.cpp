// Our OpenMetrics 1.0 serializer: metadata, suffixes, _created, units, info, exemplars, canonical numbers,
// and the shape of a whole registry exposition.
#include "metrics/openmetrics_serializer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

#include "metrics/metrics_registry.hpp"
#include "metrics_test_support.hpp"

namespace apimeter::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(OpenMetricsSerializer, CanonicalNumbersFollowGoPercentGWithDotZero) {
  EXPECT_EQ(canonical_number(0.005), "0.005");
  EXPECT_EQ(canonical_number(1), "1.0");
  EXPECT_EQ(canonical_number(10), "10.0");
  EXPECT_EQ(canonical_number(0), "0.0");
  EXPECT_EQ(canonical_number(0.0001), "0.0001");
  EXPECT_EQ(canonical_number(1e-5), "1e-05");
  EXPECT_EQ(canonical_number(100000), "100000.0");
  EXPECT_EQ(canonical_number(1e6), "1e+06");
  EXPECT_EQ(canonical_number(65536), "65536.0");
  EXPECT_EQ(canonical_number(67108864), "6.7108864e+07");
  EXPECT_EQ(canonical_number(std::numeric_limits<double>::infinity()), "+Inf");
}

TEST(OpenMetricsSerializer, CounterGetsTotalAndCreatedAndItsUnit) {
  MetricFamily f{"apimeter_received_bytes_total", "Bytes \"in\"\nhere", MetricType::Counter, {}};
  ClientMetric m;
  m.label = {{"service", "a\"b\\c"}};
  m.counter.value = 42;
  f.metric.push_back(m);
  FamilyExtras x;
  x.metrics.push_back(MetricExtras{1700000000.5, {}});
  const std::string text = serialize_openmetrics({f}, std::vector<FamilyExtras>{x});
  EXPECT_EQ(text,
            "# TYPE apimeter_received_bytes counter\n"
            "# UNIT apimeter_received_bytes bytes\n"
            "# HELP apimeter_received_bytes Bytes \\\"in\\\"\\nhere\n"
            "apimeter_received_bytes_total{service=\"a\\\"b\\\\c\"} 42\n"
            "apimeter_received_bytes_created{service=\"a\\\"b\\\\c\"} 1700000000.5\n"
            "# EOF\n");
}

TEST(OpenMetricsSerializer, HistogramHasBucketsCountSumCreatedAndExemplars) {
  MetricFamily f{"http_server_request_duration_seconds", "Duration.", MetricType::Histogram, {}};
  ClientMetric m;
  m.label = {{"http_route", "/a"}};
  m.histogram.sample_count = 3;
  m.histogram.sample_sum = 0.25;
  m.histogram.bucket = {{1, 0.1}, {3, 1.0}, {3, std::numeric_limits<double>::infinity()}};
  f.metric.push_back(m);
  FamilyExtras x;
  Exemplar e{"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 0.7, 1700000000.25};
  x.metrics.push_back(MetricExtras{1700000000, {std::nullopt, e}});
  const std::string text = serialize_openmetrics({f}, std::vector<FamilyExtras>{x});
  EXPECT_EQ(text,
            "# TYPE http_server_request_duration_seconds histogram\n"
            "# UNIT http_server_request_duration_seconds seconds\n"
            "# HELP http_server_request_duration_seconds Duration.\n"
            "http_server_request_duration_seconds_bucket{http_route=\"/a\",le=\"0.1\"} 1\n"
            "http_server_request_duration_seconds_bucket{http_route=\"/a\",le=\"1.0\"} 3 # "
            "{trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0.7 1700000000.25\n"
            "http_server_request_duration_seconds_bucket{http_route=\"/a\",le=\"+Inf\"} 3\n"
            "http_server_request_duration_seconds_count{http_route=\"/a\"} 3\n"
            "http_server_request_duration_seconds_sum{http_route=\"/a\"} 0.25\n"
            "http_server_request_duration_seconds_created{http_route=\"/a\"} 1700000000\n"
            "# EOF\n");
}

TEST(OpenMetricsSerializer, InfoGaugesAndUnitlessFamilies) {
  MetricFamily info{"apimeter_build_info", "Build.", MetricType::Gauge, {}};
  ClientMetric m;
  m.label = {{"version", "1.0"}};
  m.gauge.value = 1;
  info.metric.push_back(m);
  MetricFamily active{"http_server_active_requests", "", MetricType::Gauge, {}};
  ClientMetric a;
  a.gauge.value = 2;
  active.metric.push_back(a);
  FamilyExtras ix;
  ix.info = true;
  const std::string text = serialize_openmetrics({info, active}, std::vector<FamilyExtras>{ix});
  EXPECT_EQ(text,
            "# TYPE apimeter_build info\n"
            "# HELP apimeter_build Build.\n"
            "apimeter_build_info{version=\"1.0\"} 1\n"
            "# TYPE http_server_active_requests gauge\n"
            "http_server_active_requests 2\n"
            "# EOF\n");
}

// Every line of a registry exposition, checked against the OpenMetrics text grammar's shape.
TEST(OpenMetricsSerializer, RegistryExpositionHasTheOpenMetricsShape) {
  testing::FakeClock clock;
  auto settings = std::make_shared<MetricsSettings>();
  settings->service = "shop";
  settings->route_labels = {"/api/search"};
  settings->user_source = {UserIdentitySource::Kind::header, "X-User"};
  MetricsRegistry registry(2, {"1.0", "r"}, settings, clock.clock());
  registry.worker(0).record(testing::Exchange("GET", "/api/search").route(0, "/api/search").user("alice"));
  registry.worker(1).record(testing::Exchange("POST", "/users/7", 503).error("upstream_timeout"));
  registry.worker(1).upstream_connect_error("upstream_refused");
  const Exposition e = registry.collect_exposition();
  const std::string text = serialize_openmetrics(e.families, e.extras);
  const auto all = lines(text);
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back(), "# EOF");
  EXPECT_EQ(text.back(), '\n');

  const std::regex type_re(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|info|summary|unknown))");
  const std::regex meta_re(R"(# (UNIT|HELP) ([a-zA-Z_:][a-zA-Z0-9_:]*)( .*)?)");
  const std::regex sample_re(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|NaN)( # .*)?)");
  std::string family, type;
  std::set<std::string> seen_families;
  bool saw_created = false;
  for (std::size_t i = 0; i + 1 < all.size(); ++i) {
    const std::string& line = all[i];
    std::smatch match;
    if (std::regex_match(line, match, type_re)) {
      family = match[1];
      type = match[2];
      EXPECT_TRUE(seen_families.insert(family).second) << "family interleaved or repeated: " << family;
      continue;
    }
    if (std::regex_match(line, match, meta_re)) {
      EXPECT_EQ(match[2].str(), family) << line;
      if (match[1] == "UNIT") {
        EXPECT_TRUE(family.ends_with("_" + match[3].str().substr(1))) << line;
      }
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, match, sample_re)) << "bad line: " << line;
    const std::string name = match[1];
    ASSERT_TRUE(name.starts_with(family)) << name << " outside family " << family;
    const std::string suffix = name.substr(family.size());
    if (type == "counter") {
      EXPECT_TRUE(suffix == "_total" || suffix == "_created") << name;
    }
    if (type == "histogram") {
      EXPECT_TRUE(suffix == "_bucket" || suffix == "_count" || suffix == "_sum" || suffix == "_created") << name;
    }
    if (type == "gauge") {
      EXPECT_EQ(suffix, "") << name;
    }
    if (type == "info") {
      EXPECT_EQ(suffix, "_info") << name;
    }
    saw_created = saw_created || suffix == "_created";
  }
  EXPECT_TRUE(saw_created);
  EXPECT_TRUE(seen_families.contains("http_server_request_duration_seconds"));
  EXPECT_TRUE(seen_families.contains("apimeter_received_bytes"));
  EXPECT_TRUE(seen_families.contains("process_cpu_seconds"));
  EXPECT_TRUE(seen_families.contains("apimeter_build"));
  EXPECT_NE(text.find("# UNIT http_server_request_duration_seconds seconds\n"), std::string::npos);
  EXPECT_NE(text.find("le=\"0.005\""), std::string::npos);
  EXPECT_NE(text.find("le=\"1.0\""), std::string::npos);
}

}  // namespace
}  // namespace apimeter::metrics
