// Route ids: configured routes by index, learned templates capped per worker, "_other" beyond.
#include "metrics/route_table.hpp"

#include <gtest/gtest.h>

#include <string>

#include "metrics_test_support.hpp"

namespace apimeter::metrics {
namespace {

using testing::Exchange;

TEST(RouteTable, ConfiguredRoutesResolveByIndexAndLabel) {
  RouteTable table;
  table.configure({"/api/orders/{id}", "/api/search"}, 10);
  EXPECT_EQ(table.resolve(Exchange("GET", "/api/orders/1").route(0, "/api/orders/{id}")), 0u);
  EXPECT_EQ(table.resolve(Exchange("GET", "/api/search").route(1, "/api/search")), 1u);
  // A record routed by an older config: the label wins over the stale index.
  EXPECT_EQ(table.resolve(Exchange("GET", "/api/search").route(0, "/api/search")), 1u);
  EXPECT_FALSE(table.learned(0));
}

TEST(RouteTable, UnmatchedPathIsTemplatedAndCapped) {
  RouteTable table;
  table.configure({"/configured"}, 2);
  const auto a = table.resolve(Exchange("GET", "/users/1"));
  EXPECT_EQ(table.resolve(Exchange("GET", "/users/2")), a);
  EXPECT_EQ(table.label(a), "/users/{id}");
  EXPECT_TRUE(table.learned(a));
  const auto b = table.resolve(Exchange("GET", "/teams/9"));
  EXPECT_NE(b, a);
  EXPECT_EQ(table.resolve(Exchange("GET", "/projects/3")), kOtherRouteId);
  EXPECT_EQ(table.label(kOtherRouteId), "_other");
  EXPECT_EQ(table.learned_count(), 2u);
  // Known templates keep resolving after the cap is reached.
  EXPECT_EQ(table.resolve(Exchange("GET", "/teams/10")), b);
  EXPECT_EQ(table.resolve(Exchange("GET", "*")), kOtherRouteId);
}

TEST(RouteTable, ReconfiguringKeepsLearnedTemplatesUnderNewIds) {
  RouteTable table;
  table.configure({"/a"}, 5);
  const auto learned = table.resolve(Exchange("GET", "/users/1"));
  table.configure({"/a", "/b", "/c"}, 5);
  auto id = table.find("/users/{id}", true);
  ASSERT_TRUE(id.has_value());
  EXPECT_NE(*id, learned);
  EXPECT_EQ(table.label(*id), "/users/{id}");
  EXPECT_EQ(table.find("/b", false), 1u);
  EXPECT_FALSE(table.find("/gone", false).has_value());
}

}  // namespace
}  // namespace apimeter::metrics
