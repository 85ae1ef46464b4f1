// Log-linear histograms: bucket math, exact re-bucketing at any configured bound, quantile accuracy, merge.
#include "metrics/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "metrics/metrics_settings.hpp"

namespace apimeter::metrics {
namespace {

std::vector<std::uint64_t> naive_cumulative(const std::vector<std::uint64_t>& values, const HistogramLayout& layout) {
  std::vector<std::uint64_t> out;
  for (double b : layout.bounds()) {
    const std::uint64_t t = bound_threshold(b, layout.units_per_base());
    out.push_back(static_cast<std::uint64_t>(std::count_if(values.begin(), values.end(), [&](std::uint64_t v) { return v <= t; })));
  }
  return out;
}

std::vector<std::uint64_t> layout_cumulative(const std::vector<std::uint64_t>& values, const HistogramLayout& layout) {
  std::vector<std::uint64_t> counts(layout.bucket_count(), 0);
  for (auto v : values) ++counts[layout.index(v)];
  std::vector<std::uint64_t> out(layout.bounds().size());
  layout.cumulative_at_bounds(counts, out);
  return out;
}

TEST(LogLinearScale, EveryValueFallsInsideItsBucket) {
  const LogLinearScale scale = kDurationScale;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t v = rng() >> (rng() % 64);
    const std::size_t b = scale.index(v);
    ASSERT_LT(b, scale.bucket_count());
    ASSERT_LE(scale.lower(b), v);
    if (b + 1 < scale.bucket_count()) {
      ASSERT_LT(v, scale.lower(b + 1)) << v;
    }
  }
  EXPECT_EQ(scale.bucket_count(), 201u);
  EXPECT_EQ(kSizeScale.bucket_count(), 125u);
}

TEST(LogLinearScale, BucketsAreAtMostOneEighthWideAboveTheLinearRange) {
  const LogLinearScale scale = kDurationScale;
  for (std::size_t b = 8; b + 2 < scale.bucket_count(); ++b) {
    const double lo = static_cast<double>(scale.lower(b)), hi = static_cast<double>(scale.lower(b + 1));
    EXPECT_LE((hi - lo) / lo, 0.125 + 1e-12) << b;
  }
}

TEST(HistogramLayout, ValuesExactlyOnAConfiguredBoundAreCountedAtOrBelowIt) {
  HistogramLayout layout(kDurationScale, kNanosPerSecond, kDefaultDurationBuckets);
  std::vector<std::uint64_t> values;
  for (double b : layout.bounds()) {
    const std::uint64_t t = bound_threshold(b, kNanosPerSecond);
    values.insert(values.end(), {t - 1, t, t + 1});
  }
  EXPECT_EQ(layout_cumulative(values, layout), naive_cumulative(values, layout));
  // 5 ms is 5,000,000 ns exactly: on the 0.005 bound, not above it.
  EXPECT_EQ(bound_threshold(0.005, kNanosPerSecond), 5'000'000u);
  EXPECT_EQ(bound_threshold(0.1, kNanosPerSecond), 100'000'000u);
}

TEST(HistogramLayout, RebucketingIsExactForArbitraryBounds) {
  const std::vector<std::vector<double>> bound_sets = {
      kDefaultDurationBuckets,
      {0.0, 1e-7, 3.3e-6, 0.0123456, 0.0123457, 0.333, 7.77, 99.9, 200, 1000},  // below, inside, beyond the scale
      {0.001, 0.002, 0.003, 0.004},                                            // several inside one octave
  };
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> log_ns(0.0, std::log(2e11));
  for (const auto& bounds : bound_sets) {
    HistogramLayout layout(kDurationScale, kNanosPerSecond, bounds);
    std::vector<std::uint64_t> values;
    for (int i = 0; i < 100000; ++i) values.push_back(static_cast<std::uint64_t>(std::exp(log_ns(rng))));
    for (double b : layout.bounds()) {  // and the edges themselves
      const std::uint64_t t = bound_threshold(b, kNanosPerSecond);
      values.push_back(t);
      values.push_back(t + 1);
    }
    EXPECT_EQ(layout_cumulative(values, layout), naive_cumulative(values, layout));
  }
}

TEST(HistogramLayout, SizeBucketsAreExactAtTheirPowersOfFour) {
  HistogramLayout layout(kSizeScale, 1.0, kDefaultSizeBuckets);
  // "<= 64 bytes" ends at 65: one split per bound.
  EXPECT_EQ(layout.bucket_count(), kSizeScale.bucket_count() + kDefaultSizeBuckets.size());
  std::vector<std::uint64_t> values = {0, 1, 63, 64, 65, 1023, 1024, 1025, 67108864, 67108865, 1ull << 40};
  EXPECT_EQ(layout_cumulative(values, layout), naive_cumulative(values, layout));
}

TEST(HistogramLayout, SanitizesBounds) {
  HistogramLayout layout(kDurationScale, kNanosPerSecond, {1.0, 0.5, 0.5, -1.0, INFINITY, NAN});
  EXPECT_EQ(layout.bounds(), (std::vector<double>{0.5, 1.0}));
}

TEST(HistogramLayout, P99OfALogNormalSampleIsWithinTwoPercent) {
  HistogramLayout layout(kDurationScale, kNanosPerSecond, kDefaultDurationBuckets);
  std::mt19937_64 rng(1234);
  std::lognormal_distribution<double> latency(std::log(0.03), 0.8);  // median 30 ms, long tail
  std::vector<double> seconds;
  std::vector<std::uint64_t> counts(layout.bucket_count(), 0);
  for (int i = 0; i < 200000; ++i) {
    double s = latency(rng);
    seconds.push_back(s);
    ++counts[layout.index(static_cast<std::uint64_t>(s * 1e9))];
  }
  std::sort(seconds.begin(), seconds.end());
  for (double q : {0.5, 0.95, 0.99, 0.999}) {
    const double exact = seconds[static_cast<std::size_t>(q * (seconds.size() - 1))];
    const double estimate = layout.quantile(counts, q);
    EXPECT_NEAR(estimate / exact, 1.0, 0.02) << "q=" << q << " exact=" << exact << " estimate=" << estimate;
  }
  EXPECT_TRUE(std::isnan(layout.quantile(std::vector<std::uint64_t>(layout.bucket_count(), 0), 0.5)));
}

TEST(AtomicHistogram, SumAndCountsMergeAcrossShards) {
  auto layout = std::make_shared<HistogramLayout>(kDurationScale, kNanosPerSecond, kDefaultDurationBuckets);
  AtomicHistogram a(layout), b(layout);
  a.observe(1'000'000);   // 1 ms
  a.observe(20'000'000);  // 20 ms
  b.observe(20'000'000);
  HistogramData merged;
  merged.add(a);
  merged.add(b);
  EXPECT_EQ(merged.count(), 3u);
  EXPECT_NEAR(merged.sum, 0.041, 1e-12);
  std::vector<std::uint64_t> cumulative(layout->bounds().size());
  layout->cumulative_at_bounds(merged.counts, cumulative);
  EXPECT_EQ(cumulative[0], 1u);  // le 0.005
  EXPECT_EQ(cumulative[2], 3u);  // le 0.025
}

TEST(HistogramData, ShardsWithOtherBucketsAreRebinnedByLowerBound) {
  auto coarse = std::make_shared<HistogramLayout>(kDurationScale, kNanosPerSecond, std::vector<double>{1.0});
  auto fine = std::make_shared<HistogramLayout>(kDurationScale, kNanosPerSecond, kDefaultDurationBuckets);
  AtomicHistogram a(fine), b(coarse);
  a.observe(3'000'000);
  b.observe(3'000'000);
  HistogramData merged;
  merged.add(a);
  merged.add(b);
  EXPECT_EQ(merged.count(), 2u);
  EXPECT_EQ(merged.layout, fine);
  std::vector<std::uint64_t> cumulative(fine->bounds().size());
  fine->cumulative_at_bounds(merged.counts, cumulative);
  EXPECT_EQ(cumulative[0], 2u);
}

}  // namespace
}  // namespace apimeter::metrics
