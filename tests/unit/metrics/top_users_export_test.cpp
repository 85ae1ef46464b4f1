// Exported per-user counters: sum equals the total at every update, every series is monotonic, heavy users
// are listed, and the number of exported users is bounded.
#include "metrics/top_users_export.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "metrics/hash.hpp"
#include "metrics/space_saving.hpp"

namespace apimeter::metrics {
namespace {

std::vector<TopUsersExport::Candidate> candidates(const SpaceSaving& s) {
  std::vector<SpaceSaving::Entry> entries;
  s.snapshot(entries);
  std::vector<TopUsersExport::Candidate> out;
  for (auto& e : entries) out.push_back({e.key, e.count, e.error, e.in_flight});
  return out;
}

TEST(TopUsersExport, SumOverUsersEqualsTotalAndEverySeriesIsMonotonic) {
  constexpr std::size_t k = 5;
  SpaceSaving sketch(k * 8);
  TopUsersExport exported;
  std::mt19937 rng(11);
  std::geometric_distribution<int> skewed(0.02);
  std::map<std::string, std::uint64_t> last;
  std::uint64_t last_other = 0;
  std::uint64_t total = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 2000; ++i) {
      // The popular users drift over time, so listing changes.
      std::string user = std::string("u") + std::to_string(skewed(rng) + round / 10 * 3);
      sketch.add(user, hash64(user));
      ++total;
    }
    exported.update(candidates(sketch), total, k, 1000.0 + round);
    std::uint64_t sum = exported.other();
    std::map<std::string, std::uint64_t> now;
    for (const auto& row : exported.rows()) {
      sum += row.requests;
      // Monotonic while exported; a folded user who comes back is a new series starting from 0.
      auto it = last.find(row.user);
      if (it != last.end()) {
        EXPECT_GE(row.requests, it->second) << row.user;
      }
      now[row.user] = row.requests;
    }
    last = std::move(now);
    EXPECT_EQ(sum, total) << "round " << round;
    EXPECT_GE(exported.other(), last_other);
    last_other = exported.other();
    EXPECT_LE(exported.rows().size(), k);
  }
}

TEST(TopUsersExport, AHeavyUserIsListedWithMostOfItsRequests) {
  constexpr std::size_t k = 3;
  SpaceSaving sketch(k * 8);
  TopUsersExport exported;
  std::uint64_t total = 0;
  for (int i = 0; i < 10000; ++i) {
    std::string user = i % 2 == 0 ? "heavy" : std::string("u") + std::to_string(i);
    sketch.add(user, hash64(user));
    ++total;
    if (i % 1000 == 999) exported.update(candidates(sketch), total, k, 0);
  }
  const auto& rows = exported.rows();
  auto it = std::find_if(rows.begin(), rows.end(), [](auto& r) { return r.user == "heavy"; });
  ASSERT_NE(it, rows.end());
  EXPECT_TRUE(it->listed);
  EXPECT_GE(it->requests, 4900u);
  EXPECT_LE(it->requests, 5000u);
}

TEST(TopUsersExport, NewUsersOnlyGetTheirGuaranteedShare) {
  TopUsersExport exported;
  // A newcomer that inherited 90 from an evicted entry: only 10 are surely its own.
  exported.update({{"a", 100, 90, 0}}, 100, 1, 0);
  ASSERT_EQ(exported.rows().size(), 1u);
  EXPECT_EQ(exported.rows()[0].requests, 10u);
  EXPECT_EQ(exported.other(), 90u);
}

}  // namespace
}  // namespace apimeter::metrics
