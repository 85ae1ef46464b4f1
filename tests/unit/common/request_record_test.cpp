// The record's named durations: every sink (metrics, span, log) reads these, so their edges are pinned here.
#include "common/request_record.hpp"

#include <gtest/gtest.h>

namespace apimeter {
namespace {

using namespace std::chrono_literals;

RequestRecord exchange_that_went_upstream() {
  RequestRecord r;
  r.head_started = Clock::time_point{} + 1h;
  r.upstream_started = r.head_started + 1ms;    // the connect began
  r.upstream_connected = r.head_started + 3ms;  // and finished
  r.upstream_first_byte = r.head_started + 7ms;
  r.upstream_done = r.head_started + 9ms;
  r.done = r.head_started + 10ms;
  return r;
}

TEST(RequestRecord, TheUpstreamLegStartsAtTheFirstAttemptSoConnectingCounts) {
  const RequestRecord r = exchange_that_went_upstream();
  const RequestRecord::Interval leg = r.upstream_leg();
  ASSERT_TRUE(leg.happened());
  EXPECT_EQ(leg.start, r.upstream_started);
  EXPECT_EQ(leg.end, r.upstream_done);
  EXPECT_EQ(r.upstream_time(), 8ms);
  EXPECT_TRUE(r.upstream_completed());
  EXPECT_EQ(r.total(), 10ms);
}

TEST(RequestRecord, AnUpstreamThatNeverFinishedEndsItsLegWithTheExchange) {
  RequestRecord r = exchange_that_went_upstream();
  r.upstream_first_byte = r.upstream_done = Clock::time_point{};
  r.done = r.head_started + 500ms;  // the upstream timeout fired
  EXPECT_EQ(r.upstream_leg().end, r.done);
  EXPECT_EQ(r.upstream_time(), 499ms);
  EXPECT_FALSE(r.upstream_completed());
  EXPECT_FALSE(r.time_to_first_byte().happened());
}

TEST(RequestRecord, AnUpstreamGivenUpOnEndsItsLegThereNotAfterTheReply) {
  RequestRecord r = exchange_that_went_upstream();
  r.upstream_first_byte = r.upstream_done = Clock::time_point{};
  r.upstream_given_up = r.head_started + 300ms;  // the response timeout fired
  r.done = r.head_started + 900ms;               // then the 504 crawled to a slow client
  EXPECT_EQ(r.upstream_leg().end, r.upstream_given_up);
  EXPECT_EQ(r.upstream_time(), 299ms);
  EXPECT_FALSE(r.upstream_completed());
}

TEST(RequestRecord, WithoutAnAttemptTimeTheLegStartsAtTheConnection) {
  RequestRecord r = exchange_that_went_upstream();
  r.upstream_started = Clock::time_point{};
  EXPECT_EQ(r.upstream_leg().start, r.upstream_connected);
  EXPECT_EQ(r.upstream_time(), 6ms);
}

TEST(RequestRecord, ALocalReplyHasNoUpstreamLeg) {
  RequestRecord r;
  r.head_started = Clock::time_point{} + 1h;
  r.done = r.head_started + 2ms;
  EXPECT_FALSE(r.upstream_leg().happened());
  EXPECT_EQ(r.upstream_time(), Clock::duration::zero());
  EXPECT_FALSE(r.upstream_completed());
  EXPECT_FALSE(r.time_to_first_byte().happened());
}

TEST(RequestRecord, TimeToFirstByteRunsFromTheConnectionTaken) {
  const RequestRecord r = exchange_that_went_upstream();
  const RequestRecord::Interval ttfb = r.time_to_first_byte();
  ASSERT_TRUE(ttfb.happened());
  EXPECT_EQ(ttfb.length(), 4ms);
}

}  // namespace
}  // namespace apimeter
