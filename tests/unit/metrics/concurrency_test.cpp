// Smoke test for the threading model (run it under TSan): workers record and reload while the control
// thread scrapes, ticks and renders /stats in a loop bounded by the writers finishing. No sleeps.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "metrics/metrics_registry.hpp"
#include "metrics/openmetrics_serializer.hpp"
#include "metrics/text_serializer.hpp"
#include "metrics_test_support.hpp"

namespace apimeter::metrics {
namespace {

using namespace std::chrono_literals;
using testing::Exchange;

std::shared_ptr<MetricsSettings> base_settings() {
  auto s = std::make_shared<MetricsSettings>();
  s->service = "shop";
  s->route_labels = {"/api/a", "/api/b"};
  s->top_users = 4;
  s->user_source = {UserIdentitySource::Kind::header, "X-User"};
  s->extra_labels = {{"kind", ExtraLabel::Source::query, "type", {}, 3}};
  return s;
}

TEST(MetricsConcurrency, ScrapesNeverRaceWorkersThatRecordAndReload) {
  auto s1 = base_settings();
  auto s2 = base_settings();  // same labels, more users listed: the sketch is replaced, series persist
  s2->top_users = 6;
  s2->route_labels.push_back("/api/c");
  auto s3 = std::make_shared<MetricsSettings>(*s2);  // new buckets for /api/b: its series are retired
  s3->route_buckets = {{}, {0.01, 0.1}};

  MetricsRegistry registry(2, {"t", "t"}, s1);
  constexpr int kRecords = 30000;
  std::vector<std::string> users, paths;
  for (int i = 0; i < 300; ++i) users.push_back(std::string("user-") + std::to_string(i));
  for (int i = 0; i < 50; ++i) paths.push_back(std::string("/users/") + std::to_string(i) + "/items");
  const std::array<std::string_view, 3> kinds = {"x", "y", "z"};

  std::atomic<int> running{2};
  std::atomic<std::uint64_t> b_retired{0};
  auto writer = [&](unsigned index) {
    WorkerMetrics& w = registry.worker(index);
    std::uint64_t b_before_s3 = 0;
    for (int i = 0; i < kRecords; ++i) {
      if (index == 0 && i == kRecords / 3) w.apply(s2);
      if (index == 0 && i == 2 * kRecords / 3) {
        w.apply(s3);
        b_retired.store(b_before_s3);
      }
      const std::string& user = users[static_cast<std::size_t>(i * 7 + index) % users.size()];
      UserToken token = w.user_started(user);
      w.request_started();
      std::array<std::string_view, 1> extra{kinds[static_cast<std::size_t>(i) % kinds.size()]};
      Exchange e = i % 3 == 0   ? Exchange("GET", "/api/a").route(0, "/api/a")
                   : i % 3 == 1 ? Exchange("POST", "/api/b").route(1, "/api/b")
                                : Exchange("GET", paths[static_cast<std::size_t>(i) % paths.size()]);
      if (i % 3 == 1 && i < 2 * kRecords / 3) ++b_before_s3;
      w.record(e.user(user).took(std::chrono::microseconds(100 + i % 5000)), extra);
      w.request_finished();
      w.user_finished(token);
      if (i % 100 == 0) {
        w.connection_opened();
        w.upstream_pool(static_cast<std::size_t>(i % 7), 1);
        w.upstream_connect_error(i % 200 == 0 ? "upstream_refused" : "upstream_connect_timeout");
        w.connection_closed();
      }
    }
    running.fetch_sub(1);
  };
  std::thread w0(writer, 0u), w1(writer, 1u);

  int scrapes = 0;
  while (running.load() > 0) {
    const std::string text = serialize_text(registry.Collect());
    const Exposition e = registry.collect_exposition();
    const std::string om = serialize_openmetrics(e.families, e.extras);
    registry.tick(Clock::now());
    const std::string json = registry.stats_json(Clock::now());
    ASSERT_FALSE(text.empty());
    ASSERT_TRUE(om.ends_with("# EOF\n"));
    ASSERT_FALSE(json.empty());
    if (++scrapes == 2) registry.apply(s2);
  }
  w0.join();
  w1.join();

  std::uint64_t recorded = 0;
  auto fams = registry.Collect();
  for (const auto& m : testing::find_family(fams, "http_server_request_duration_seconds")->metric) recorded += m.histogram.sample_count;
  EXPECT_EQ(recorded, 2u * kRecords - b_retired.load());
  double users_total = 0;
  for (const auto& m : testing::find_family(fams, "apimeter_user_requests_total")->metric) users_total += m.counter.value;
  EXPECT_EQ(users_total, 2.0 * kRecords);
  EXPECT_EQ(testing::find_series(fams, "http_server_active_requests", {})->gauge.value, 0);
  RecordProperty("scrapes", scrapes);
}

}  // namespace
}  // namespace apimeter::metrics
