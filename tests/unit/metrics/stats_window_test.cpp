// The /stats window: which snapshot starts the minute, and the figures derived from two snapshots.
#include "metrics/stats_window.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "metrics_test_support.hpp"

namespace apimeter::metrics {
namespace {

using namespace std::chrono_literals;

StatsSnapshot at(Clock::time_point t) {
  StatsSnapshot s;
  s.at = t;
  return s;
}

TEST(StatsWindow, BaselineIsTheNewestSnapshotAtLeastAMinuteOld) {
  StatsWindow window(60s);
  const auto start = testing::t0();
  EXPECT_EQ(window.baseline(start), nullptr);
  for (int i = 0; i <= 12; ++i) window.add(at(start + std::chrono::seconds(10 * i)));
  const StatsSnapshot* base = window.baseline(start + 120s);
  ASSERT_NE(base, nullptr);
  EXPECT_EQ(base->at, start + 60s);
  // Older snapshots are dropped: a window ending now never needs them.
  EXPECT_EQ(window.size(), 7u);
  // Early on there is none: the caller measures from start instead of over a few seconds.
  StatsWindow young(60s);
  young.add(at(start));
  young.add(at(start + 10s));
  EXPECT_EQ(young.baseline(start + 15s), nullptr);
  EXPECT_EQ(young.baseline(start + 60s)->at, start);
}

TEST(StatsWindow, LiveStatsSubtractTheBaseline) {
  auto layout = std::make_shared<HistogramLayout>(kDurationScale, kNanosPerSecond, std::vector<double>{0.1});
  AtomicHistogram h(layout);
  HistogramData before_data, now_data;
  for (int i = 0; i < 100; ++i) h.observe(1'000'000'000);  // 1 s, before the window
  before_data.add(h);
  for (int i = 0; i < 50; ++i) h.observe(10'000'000);  // 10 ms, inside
  now_data.add(h);
  WindowSample before, now;
  before.add(100, 100, 4'000, 90'000, before_data);
  now.add(150, 110, 5'000, 100'000, now_data);
  LiveStats s = live_stats(now, &before, 10.0);
  EXPECT_EQ(s.requests, 50u);
  EXPECT_DOUBLE_EQ(s.rate, 5.0);
  EXPECT_DOUBLE_EQ(s.received_rate, 100.0);
  EXPECT_DOUBLE_EQ(s.sent_rate, 1'000.0);
  EXPECT_DOUBLE_EQ(s.error_ratio, 0.2);
  EXPECT_NEAR(s.p99, 0.010, 0.0013);
  LiveStats empty = live_stats(before, &before, 10.0);
  EXPECT_EQ(empty.requests, 0u);
  EXPECT_TRUE(std::isnan(empty.error_ratio));
  EXPECT_TRUE(std::isnan(empty.p50));
  EXPECT_DOUBLE_EQ(empty.sent_rate, 0.0);
}

}  // namespace
}  // namespace apimeter::metrics
