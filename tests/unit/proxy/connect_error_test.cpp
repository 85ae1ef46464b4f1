// Upstream connect errors map to a cause an operator can act on, never to the generic "error" when the
// socket said what went wrong.
#include "proxy/connect_error.hpp"

#include <cerrno>
#include <gtest/gtest.h>

namespace apimeter {
namespace {

ErrorCode system_error(int value) { return ErrorCode(value, boost::system::system_category()); }

TEST(ConnectError, EachSocketErrorHasItsCause) {
  EXPECT_EQ(connect_error_type(asio::error::connection_refused), "refused");
  EXPECT_EQ(connect_error_type(system_error(ECONNREFUSED)), "refused");
  EXPECT_EQ(connect_error_type(system_error(EHOSTUNREACH)), "unreachable");
  EXPECT_EQ(connect_error_type(system_error(ENETUNREACH)), "unreachable");
  EXPECT_EQ(connect_error_type(system_error(ECONNRESET)), "reset");
  EXPECT_EQ(connect_error_type(system_error(ETIMEDOUT)), "timeout");
  EXPECT_EQ(connect_error_type(system_error(EADDRNOTAVAIL)), "address_unavailable");
  EXPECT_EQ(connect_error_type(system_error(EMFILE)), "no_resources");
  EXPECT_EQ(connect_error_type(system_error(ENOBUFS)), "no_resources");
  EXPECT_EQ(connect_error_type(system_error(EACCES)), "denied");
  EXPECT_EQ(connect_error_type(system_error(EPERM)), "denied");
  EXPECT_EQ(connect_error_type(system_error(ENETDOWN)), "network_down");
  EXPECT_EQ(connect_error_type(system_error(EPROTO)), "error");
}

}  // namespace
}  // namespace apimeter
