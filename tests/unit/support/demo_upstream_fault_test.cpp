// Fault injection of the demo APIs: the control query, and how a fault changes a reply.
#include "tests/support/demo_upstream_fault.hpp"

#include <gtest/gtest.h>

namespace apimeter::demo {
namespace {

using std::chrono::milliseconds;

TEST(FaultInjectorTest, NoFaultChangesNothing) {
  FaultInjector faults;
  Prng prng(1);
  ApiReply reply;
  reply.delay = milliseconds(5);
  EXPECT_FALSE(faults.apply("/api/orders", prng, reply));
  EXPECT_EQ(reply.delay, milliseconds(5));
  EXPECT_EQ(reply.status, boost::beast::http::status::ok);
}

TEST(FaultInjectorTest, DelayIsAddedOnlyUnderThePrefix) {
  FaultInjector faults;
  ASSERT_EQ(faults.set("delay=2500ms&path_prefix=/api/products/"), std::nullopt);
  Prng prng(1);
  ApiReply slow;
  slow.delay = milliseconds(3);
  EXPECT_TRUE(faults.apply("/api/products/42", prng, slow));
  EXPECT_EQ(slow.delay, milliseconds(2503));
  EXPECT_EQ(slow.status, boost::beast::http::status::ok);
  ApiReply other;
  EXPECT_FALSE(faults.apply("/api/orders/1", prng, other));
  EXPECT_EQ(other.delay, milliseconds(0));
  EXPECT_EQ(faults.describe(), R"({"delay_ms":2500,"error_percent":0,"path_prefix":"/api/products/"})" "\n");
}

TEST(FaultInjectorTest, ErrorPercentTurnsThatShareIntoInjected500s) {
  FaultInjector faults;
  ASSERT_EQ(faults.set("error_percent=30&delay=1s"), std::nullopt);
  Prng prng(42);
  int errors = 0;
  for (int i = 0; i < 10000; ++i) {
    ApiReply reply;
    faults.apply("/api/x", prng, reply);
    EXPECT_EQ(reply.delay, milliseconds(1000));
    if (reply.status == boost::beast::http::status::internal_server_error) {
      ++errors;
      EXPECT_EQ(reply.body, "{\"error\":\"injected fault\"}\n");
    }
  }
  EXPECT_NEAR(errors, 3000, 200);
  faults.clear();
  ApiReply reply;
  EXPECT_FALSE(faults.apply("/api/x", prng, reply));
}

TEST(FaultInjectorTest, BadQueriesAreRefusedAndChangeNothing) {
  FaultInjector faults;
  ASSERT_EQ(faults.set("error_percent=10"), std::nullopt);
  EXPECT_NE(faults.set("error_percent=101"), std::nullopt);
  EXPECT_NE(faults.set("delay=fast"), std::nullopt);
  EXPECT_NE(faults.set("delay=11m"), std::nullopt);
  EXPECT_NE(faults.set("path_prefix=api"), std::nullopt);
  EXPECT_NE(faults.set("path_prefix=/" + std::string(200, 'a')), std::nullopt);
  EXPECT_EQ(faults.describe(), R"({"delay_ms":0,"error_percent":10,"path_prefix":""})" "\n");
}

}  // namespace
}  // namespace apimeter::demo
