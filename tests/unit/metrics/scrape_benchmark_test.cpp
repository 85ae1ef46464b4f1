// Measurements that are reported, never asserted on time (timed assertions are flaky): scrape and
// serialization time for 1,000 routes, and the memory a series costs. The cardinality test asserts only on
// counts and on the shards' own memory accounting.
#include <gtest/gtest.h>

#include <chrono>
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "metrics/metrics_registry.hpp"
#include "metrics/openmetrics_serializer.hpp"
#include "metrics/process_metrics.hpp"
#include "metrics/text_serializer.hpp"
#include "metrics_test_support.hpp"

namespace apimeter::metrics {
namespace {

using namespace std::chrono_literals;
using testing::Exchange;

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

TEST(ScrapeBenchmark, ReportsScrapeTimeAndSeriesMemoryForAThousandRoutes) {
  auto settings = std::make_shared<MetricsSettings>();
  settings->service = "shop";
  for (int i = 0; i < 1000; ++i) settings->route_labels.push_back(std::string("/api/resource") + std::to_string(i) + "/{id}");
  MetricsRegistry registry(2, {"bench", "bench"}, settings);
  // Per route: GET 200, GET 404 and POST 201 on both workers: 3,000 request series, 1,000 route series.
  for (int route = 0; route < 1000; ++route) {
    const std::string& label = settings->route_labels[static_cast<std::size_t>(route)];
    for (unsigned w = 0; w < 2; ++w)
      for (int i = 0; i < 5; ++i) {
        registry.worker(w).record(Exchange("GET", "/x", 200).route(route, label).took(std::chrono::microseconds(500 + 997 * i * route % 200000)));
        registry.worker(w).record(Exchange("GET", "/x", 404).route(route, label).took(1ms));
        registry.worker(w).record(Exchange("POST", "/x", 201).route(route, label).took(30ms).bytes(900, 300, 700, 100));
      }
  }
  (void)registry.Collect();  // warm-up: first-scrape admission work

  // Best of five: the machine is shared, and the first scrape also pays for fresh pages.
  double collect_ms = 1e9, text_ms = 1e9, om_ms = 1e9;
  std::vector<prometheus::MetricFamily> families;
  std::string text, om;
  for (int rep = 0; rep < 5; ++rep) {
    auto start = std::chrono::steady_clock::now();
    families = registry.Collect();
    collect_ms = std::min(collect_ms, ms_since(start));
    start = std::chrono::steady_clock::now();
    text = serialize_text(families);
    text_ms = std::min(text_ms, ms_since(start));
    start = std::chrono::steady_clock::now();
    const Exposition e = registry.collect_exposition();
    om = serialize_openmetrics(e.families, e.extras);
    om_ms = std::min(om_ms, ms_since(start));
  }

  std::size_t samples = 0;
  for (char c : text) samples += c == '\n';
  const double per_worker_series = 4000;
  const double bytes_per_series = static_cast<double>(registry.worker(0).series_memory_bytes()) / per_worker_series;
  std::printf("[ scrape   ] 1000 routes, 2 workers, %zu text lines (%zu KiB), best of 5: Collect %.1f ms, text %.1f ms, "
              "collect+OpenMetrics %.1f ms (%zu KiB)\n",
              samples, text.size() / 1024, collect_ms, text_ms, om_ms, om.size() / 1024);
  std::printf("[ memory   ] %.0f bytes per series on average (3 request series of 1 histogram per route series of 5)\n",
              bytes_per_series);
  RecordProperty("collect_ms", std::to_string(collect_ms));
  RecordProperty("text_ms", std::to_string(text_ms));
  RecordProperty("openmetrics_ms", std::to_string(om_ms));
  EXPECT_EQ(testing::find_family(families, "http_server_request_duration_seconds")->metric.size(), 3000u);
  EXPECT_TRUE(om.ends_with("# EOF\n"));
}

TEST(CardinalityAttack, RandomPathsAndUsersStayWithinTheCaps) {
  auto settings = std::make_shared<MetricsSettings>();
  settings->service = "shop";
  settings->route_labels = {"/api/orders/{id}"};
  settings->user_source = {UserIdentitySource::Kind::header, "X-User"};
  const double rss_before = read_process_sample().resident_bytes;
  MetricsRegistry registry(2, {"t", "t"}, settings);
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> letter('a', 'z');
  std::string path, user;
  for (int i = 0; i < 100000; ++i) {
    path = "/";
    for (int k = 0; k < 10; ++k) path += static_cast<char>(letter(rng));
    path += std::string("/") + std::to_string(i);
    user = std::string("attacker-") + std::to_string(i);
    registry.worker(static_cast<unsigned>(i % 2)).record(Exchange(i % 5 == 0 ? "BREW" : "GET", path, 404).user(user));
  }
  auto fams = registry.Collect();
  const auto* duration = testing::find_family(fams, "http_server_request_duration_seconds");
  // 200 learned templates per process plus "_other", times two methods at most.
  EXPECT_LE(duration->metric.size(), 2u * (kDefaultMaxLearnedTemplates + 1));
  std::uint64_t requests = 0;
  for (const auto& m : duration->metric) requests += m.histogram.sample_count;
  EXPECT_EQ(requests, 100000u);
  EXPECT_LE(testing::find_family(fams, "apimeter_user_requests_total")->metric.size(), kDefaultTopUsers + 2);
  const std::size_t memory = registry.worker(0).series_memory_bytes() + registry.worker(1).series_memory_bytes();
  EXPECT_LT(memory, 20u << 20);
  std::printf("[ attack   ] 100k paths + 100k users on 2 workers: %zu series exported, %.1f MiB in series, RSS +%.1f MiB\n",
              duration->metric.size(), static_cast<double>(memory) / (1 << 20),
              (read_process_sample().resident_bytes - rss_before) / (1 << 20));
}

}  // namespace
}  // namespace apimeter::metrics
