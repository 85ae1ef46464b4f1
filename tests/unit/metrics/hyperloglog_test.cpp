// Distinct-count estimates: accuracy at 10k and 100k ids, merging, and the one-minute window.
#include "metrics/hyperloglog.hpp"

#include <gtest/gtest.h>

#include <string>

#include "metrics/hash.hpp"
#include "metrics_test_support.hpp"

namespace apimeter::metrics {
namespace {

using namespace std::chrono_literals;

std::uint64_t id_hash(int i) { return hash64(std::string("user-") + std::to_string(i)); }

TEST(HyperLogLog, EstimatesTenThousandDistinctIdsWithinTwoPercent) {
  HyperLogLog h;
  for (int i = 0; i < 10000; ++i) h.add_hash(id_hash(i));
  for (int i = 0; i < 10000; ++i) h.add_hash(id_hash(i));  // duplicates change nothing
  EXPECT_NEAR(h.estimate(), 10000, 200);
}

TEST(HyperLogLog, EstimatesHundredThousandDistinctIdsWithinTwoPercent) {
  HyperLogLog h;
  for (int i = 0; i < 100000; ++i) h.add_hash(id_hash(i));
  EXPECT_NEAR(h.estimate(), 100000, 2000);
}

TEST(HyperLogLog, SmallAndEmptySetsAreNearlyExact) {
  HyperLogLog h;
  EXPECT_NEAR(h.estimate(), 0, 0.5);
  for (int i = 0; i < 10; ++i) h.add_hash(id_hash(i));
  EXPECT_NEAR(h.estimate(), 10, 0.5);
}

TEST(WindowedHyperLogLog, MergesShardsAndForgetsIdsOlderThanAMinute) {
  const auto start = testing::t0();
  WindowedHyperLogLog a, b;
  for (int i = 0; i < 5000; ++i) a.add_hash(id_hash(i), start);
  for (int i = 2500; i < 7500; ++i) b.add_hash(id_hash(i), start + 20s);

  HyperLogLog now;
  a.merge_into(now, start + 30s);
  b.merge_into(now, start + 30s);
  EXPECT_NEAR(now.estimate(), 7500, 150);

  HyperLogLog later;  // a's ids are now more than a minute old, b's are not
  a.merge_into(later, start + 65s);
  b.merge_into(later, start + 65s);
  EXPECT_NEAR(later.estimate(), 5000, 100);

  HyperLogLog idle;
  a.merge_into(idle, start + 10min);
  b.merge_into(idle, start + 10min);
  EXPECT_NEAR(idle.estimate(), 0, 0.5);
}

TEST(WindowedHyperLogLog, AWriterReusingASlotClearsItsOldPeriod) {
  const auto start = testing::t0();
  WindowedHyperLogLog w;
  for (int i = 0; i < 1000; ++i) w.add_hash(id_hash(i), start);
  // Six sub-windows later the same slot is reused for a new period.
  w.add_hash(id_hash(-1), start + 60s);
  HyperLogLog h;
  w.merge_into(h, start + 60s);
  EXPECT_NEAR(h.estimate(), 1, 0.5);
}

}  // namespace
}  // namespace apimeter::metrics
