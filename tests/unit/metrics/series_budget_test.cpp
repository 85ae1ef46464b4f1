// The process-wide series cap: distinct label sets counted once, whatever the number of workers.
#include "metrics/series_budget.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace apimeter::metrics {
namespace {

TEST(SeriesBudget, AdmitsUpToTheCapAndCountsEachSeriesOnce) {
  SeriesBudget budget(3);
  EXPECT_TRUE(budget.admit(101));
  EXPECT_TRUE(budget.admit(102));
  EXPECT_TRUE(budget.admit(101));  // another worker, same series: free
  EXPECT_TRUE(budget.admit(103));
  EXPECT_FALSE(budget.admit(104));
  EXPECT_TRUE(budget.admit(102));
  EXPECT_EQ(budget.size(), 3u);
}

TEST(SeriesBudget, RaisingTheLimitOnReloadAdmitsMore) {
  SeriesBudget budget(2);
  EXPECT_TRUE(budget.admit(1));
  EXPECT_TRUE(budget.admit(2));
  EXPECT_FALSE(budget.admit(3));
  budget.set_limit(3);
  EXPECT_TRUE(budget.admit(3));
}

TEST(SeriesBudget, ConcurrentWorkersAdmittingTheSameSeriesCountItOnce) {
  SeriesBudget budget(1000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (std::uint64_t fp = 1; fp <= 500; ++fp) EXPECT_TRUE(budget.admit(fp * 0x9e3779b97f4a7c15ULL));
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(budget.size(), 500u);
}

}  // namespace
}  // namespace apimeter::metrics
