// /proc parsing for the process_* families.
#include "metrics/process_metrics.hpp"

#include <gtest/gtest.h>

namespace apimeter::metrics {
namespace {

TEST(ProcessMetrics, ParsesProcSelfStatEvenWithParenthesesInTheCommand) {
  // Fields 14/15 utime/stime = 250/150 ticks, 22 starttime = 1000 ticks, 23 vsize, 24 rss pages.
  const std::string stat =
      "4242 (api (meter) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 9 0 1000 104857600 2560 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  auto s = parse_proc_self_stat(stat, 100, 4096, 1'700'000'000);
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 4.0);
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1'700'000'010.0);
  EXPECT_DOUBLE_EQ(s->virtual_bytes, 104857600.0);
  EXPECT_DOUBLE_EQ(s->resident_bytes, 2560.0 * 4096);
  EXPECT_FALSE(parse_proc_self_stat("garbage", 100, 4096, 0));
  EXPECT_FALSE(parse_proc_self_stat("1 (x) S 1 2", 100, 4096, 0));
}

TEST(ProcessMetrics, ParsesBootTime) {
  EXPECT_EQ(parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1699999000\nprocesses 9\n"), 1699999000.0);
  EXPECT_FALSE(parse_boot_time("cpu 1\n"));
}

TEST(ProcessMetrics, ReadsThisProcess) {
  ProcessSample s = read_process_sample();
  EXPECT_GT(s.resident_bytes, 0);
  EXPECT_GT(s.open_fds, 2);
  EXPECT_GT(s.start_time_seconds, 1e9);
}

}  // namespace
}  // namespace apimeter::metrics
