// The MES worker's order-event check: what it accepts, and the malformed events it dead-letters.
#include "tests/support/demo_upstream_mes.hpp"

#include <gtest/gtest.h>

namespace apimeter::demo {
namespace {

TEST(OrderEventTest, WellFormedEventsAreAccepted) {
  EXPECT_TRUE(order_event_is_valid(R"({"order_id":1,"customer_id":2,"items":[{"sku":"PART-1","qty":3}]})"));
  EXPECT_TRUE(order_event_is_valid(
      " { \"order_id\" : 10 , \"customer_id\" : 20 , \"items\" : [ {\"sku\":\"A\",\"qty\":1} , "
      "{\"sku\":\"B-2\",\"qty\":40} ] } \n"));
}

TEST(OrderEventTest, MalformedEventsAreRejected) {
  for (auto const* event : {
           "",
           "not json at all",
           R"({"order_id":"abc"})",
           R"({"order_id":7,"items":[]})",
           R"({"order_id":7,"customer_id":9,"items":[]})",
           R"({"order_id":0,"customer_id":9,"items":[{"sku":"A","qty":1}]})",
           R"({"order_id":07,"customer_id":9,"items":[{"sku":"A","qty":1}]})",
           R"({"order_id":8,"customer_id":9,"items":[{"sku":"","qty":1}]})",
           R"({"order_id":8,"customer_id":9,"items":[{"sku":"A\"B","qty":1}]})",
           R"({"order_id":8,"customer_id":9,"items":[{"sku":"A","qty":-1}]})",
           R"({"order_id":8,"customer_id":9,"items":[{"sku":"A","qty":1},]})",
           R"({"order_id":8,"customer_id":9,"items":[{"sku":"A","qty":1}]} trailing)",
           R"({"order_id":8,"customer_id":9,"items":[{"sku":"A","qty":1})",
           R"({"order_id":99999999999999999999999,"customer_id":9,"items":[{"sku":"A","qty":1}]})",
       }) {
    EXPECT_FALSE(order_event_is_valid(event)) << event;
  }
}

}  // namespace
}  // namespace apimeter::demo
