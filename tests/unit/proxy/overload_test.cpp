// Client timeouts under load: as configured below the start share of the cap, down to the floor at it.
#include "proxy/overload.hpp"

#include <gtest/gtest.h>

namespace apimeter {
namespace {

using namespace std::chrono_literals;

constexpr Duration kIdle = 60s;
constexpr Duration kFloor = 1s;

Duration idle_at(std::size_t open, std::size_t cap = 1000, double start = 0.8) {
  return scaled_client_timeout(kIdle, kFloor, open, cap, start);
}

TEST(Overload, BelowTheStartTimeoutsAreAsConfigured) {
  EXPECT_EQ(idle_at(0), kIdle);
  EXPECT_EQ(idle_at(799), kIdle);
  EXPECT_EQ(idle_at(800), kIdle);
}

TEST(Overload, FromTheStartToTheCapTheyShrinkLinearlyToTheFloor) {
  EXPECT_EQ(idle_at(900), 30500ms);  // halfway: 60 s - (60 s - 1 s) / 2
  EXPECT_LT(idle_at(801), kIdle);
  EXPECT_GT(idle_at(999), kFloor);
  EXPECT_EQ(idle_at(1000), kFloor);
  EXPECT_EQ(idle_at(1002), kFloor);  // over the cap (the reclaim admits one or two more)
  EXPECT_GT(idle_at(850), idle_at(950));
}

TEST(Overload, AStartOfOneTurnsShrinkingOff) {
  EXPECT_EQ(idle_at(1000, 1000, 1.0), kIdle);
  EXPECT_EQ(idle_at(1002, 1000, 1.0), kIdle);
}

TEST(Overload, AStartOfZeroShrinksFromTheFirstConnection) {
  EXPECT_EQ(idle_at(0, 1000, 0.0), kIdle);
  EXPECT_EQ(idle_at(500, 1000, 0.0), 30500ms);
}

TEST(Overload, NoCapADisabledTimeoutOrAHighFloorLeaveTheTimeoutAlone) {
  EXPECT_EQ(idle_at(5000, 0), kIdle);
  EXPECT_EQ(scaled_client_timeout(Duration{0}, kFloor, 1000, 1000, 0.8), Duration{0});
  EXPECT_EQ(scaled_client_timeout(2s, 5s, 1000, 1000, 0.8), 2s);
}

TEST(Overload, AShrunkTimeoutIsNeverZero) {
  EXPECT_EQ(scaled_client_timeout(60s, Duration{0}, 1000, 1000, 0.8), Duration{1});
}

}  // namespace
}  // namespace apimeter
