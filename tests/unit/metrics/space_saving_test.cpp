// Space-Saving guarantees: heavy users are always monitored, counts sum to the stream, bounded memory,
// and in-flight tokens never charge the wrong user.
#include "metrics/space_saving.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>

#include "metrics/hash.hpp"

namespace apimeter::metrics {
namespace {

void add(SpaceSaving& s, const std::string& user) { s.add(user, hash64(user)); }

std::vector<SpaceSaving::Entry> entries(const SpaceSaving& s) {
  std::vector<SpaceSaving::Entry> out;
  s.snapshot(out);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.count > b.count; });
  return out;
}

TEST(SpaceSaving, AUserAboveOneKthOfTheTrafficIsAlwaysAmongTheTopK) {
  constexpr std::size_t k = 20;
  SpaceSaving sketch(k * 8);
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> uniform(0, 1'000'000);
  // "heavy" gets just over 1/K of the requests, the rest are spread over a huge id space.
  const int total = 100000;
  for (int i = 0; i < total; ++i) {
    if (i % 19 == 0) add(sketch, "heavy");
    else add(sketch, std::string("u") + std::to_string(uniform(rng)));
    if (i % 997 == 0) {
      auto top = entries(sketch);
      ASSERT_LE(top.size(), k * 8);
    }
  }
  auto top = entries(sketch);
  top.resize(std::min(top.size(), k));
  EXPECT_TRUE(std::any_of(top.begin(), top.end(), [](auto& e) { return e.key == "heavy"; }));
  auto heavy = std::find_if(top.begin(), top.end(), [](auto& e) { return e.key == "heavy"; });
  ASSERT_NE(heavy, top.end());
  EXPECT_GE(heavy->count, static_cast<std::uint64_t>(total / 19));
  EXPECT_LE(heavy->count - heavy->error, static_cast<std::uint64_t>(total / 19) + 1);
}

TEST(SpaceSaving, CountsSumToTheNumberOfRequests) {
  SpaceSaving sketch(16);
  std::mt19937 rng(5);
  std::geometric_distribution<int> skewed(0.05);
  for (int i = 0; i < 50000; ++i) add(sketch, std::string("user") + std::to_string(skewed(rng)));
  std::uint64_t sum = 0;
  for (const auto& e : entries(sketch)) sum += e.count;
  EXPECT_EQ(sum, 50000u);
  EXPECT_EQ(sketch.total(), 50000u);
  EXPECT_EQ(entries(sketch).size(), 16u);
}

TEST(SpaceSaving, ExactWhileFewerUsersThanCapacity) {
  SpaceSaving sketch(8);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j <= i; ++j) add(sketch, std::string("u") + std::to_string(i));
  auto top = entries(sketch);
  ASSERT_EQ(top.size(), 5u);
  EXPECT_EQ(top[0].key, "u4");
  EXPECT_EQ(top[0].count, 5u);
  EXPECT_EQ(top[0].error, 0u);
}

TEST(SpaceSaving, InFlightFollowsTokensAndIgnoresEvictedUsers) {
  SpaceSaving sketch(2);
  add(sketch, "alice");
  add(sketch, "alice");
  add(sketch, "bob");
  UserToken a = sketch.begin_request("alice", hash64("alice"));
  UserToken b = sketch.begin_request("bob", hash64("bob"));
  // A user not monitored yet is taken in when its request starts, so its in-flight request shows; that
  // evicts bob (the smallest count), whose token then belongs to nobody.
  UserToken c = sketch.begin_request("carol", hash64("carol"));
  EXPECT_TRUE(a.monitored());
  EXPECT_TRUE(c.monitored());
  sketch.end_request(b);  // bob's entry now belongs to carol: no effect
  bool saw_carol = false;
  for (const auto& e : entries(sketch)) {
    EXPECT_NE(e.key, "bob");
    if (e.key == "alice") {
      EXPECT_EQ(e.in_flight, 1);
    }
    if (e.key == "carol") {
      saw_carol = true;
      EXPECT_EQ(e.in_flight, 1);
      EXPECT_EQ(e.count, 1u);  // inherited from bob, nothing counted for carol yet
      EXPECT_EQ(e.error, 1u);
    }
  }
  EXPECT_TRUE(saw_carol);
  sketch.end_request(c);
  add(sketch, "carol");  // the completion counts carol as an insert would have
  for (const auto& e : entries(sketch))
    if (e.key == "carol") {
      EXPECT_EQ(e.in_flight, 0);
      EXPECT_EQ(e.count, 2u);
    }
  sketch.end_request(a);
  sketch.end_request(a);  // never below zero
  for (const auto& e : entries(sketch))
    if (e.key == "alice") {
      EXPECT_EQ(e.in_flight, 0);
    }
}

TEST(SpaceSaving, LongOrNonPrintableIdsAreStoredHashed) {
  UserKeyBuffer scratch;
  EXPECT_EQ(user_key("alice", scratch), "alice");
  const std::string long_id(100, 'x');
  std::string_view k = user_key(long_id, scratch);
  EXPECT_EQ(k.size(), 17u);
  EXPECT_EQ(k[0], '#');
  EXPECT_EQ(user_key(std::string_view("caf\xc3\xa9", 5), scratch).front(), '#');
  EXPECT_EQ(user_key("a\nb", scratch).front(), '#');
}

}  // namespace
}  // namespace apimeter::metrics
