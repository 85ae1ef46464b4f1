// The demo's AMQP URL parsing (the broker address the CRM and MES shapes connect to).
#include "tests/support/demo_upstream_amqp.hpp"

#include <gtest/gtest.h>

namespace apimeter::demo {
namespace {

TEST(AmqpUrlTest, FullUrlIsSplitIntoItsParts) {
  AmqpAddress address;
  ASSERT_EQ(parse_amqp_url("amqp://apimeter-demo:s%40cret@rabbitmq:5673/orders", address), std::nullopt);
  EXPECT_EQ(address.host, "rabbitmq");
  EXPECT_EQ(address.port, 5673);
  EXPECT_EQ(address.user, "apimeter-demo");
  EXPECT_EQ(address.password, "s@cret");
  EXPECT_EQ(address.vhost, "orders");
}

TEST(AmqpUrlTest, DefaultsAreGuestOnPort5672AndTheRootVhost) {
  AmqpAddress address;
  ASSERT_EQ(parse_amqp_url("amqp://127.0.0.1", address), std::nullopt);
  EXPECT_EQ(address.host, "127.0.0.1");
  EXPECT_EQ(address.port, 5672);
  EXPECT_EQ(address.user, "guest");
  EXPECT_EQ(address.vhost, "/");
  ASSERT_EQ(parse_amqp_url("amqp://u:p@h:1/%2F", address), std::nullopt);
  EXPECT_EQ(address.vhost, "/");
}

TEST(AmqpUrlTest, MalformedUrlsAreRefused) {
  AmqpAddress address;
  EXPECT_NE(parse_amqp_url("http://h:5672/", address), std::nullopt);
  EXPECT_NE(parse_amqp_url("amqp://h:0/", address), std::nullopt);
  EXPECT_NE(parse_amqp_url("amqp://h:99999/", address), std::nullopt);
  EXPECT_NE(parse_amqp_url("amqp://u:p@:5672/", address), std::nullopt);
}

}  // namespace
}  // namespace apimeter::demo
