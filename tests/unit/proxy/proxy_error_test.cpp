// The error table: every failure maps to the status, label and body operators expect.
#include "proxy/proxy_error.hpp"

#include <gtest/gtest.h>

namespace apimeter {
namespace {

TEST(ProxyError, UpstreamFailuresMapTo502503504) {
  EXPECT_EQ(error_info(ProxyError::upstream_refused).status, 502);
  EXPECT_EQ(error_info(ProxyError::upstream_reset).status, 502);
  EXPECT_EQ(error_info(ProxyError::upstream_bad_response).status, 502);
  EXPECT_EQ(error_info(ProxyError::upstream_connect_timeout).status, 503);
  EXPECT_EQ(error_info(ProxyError::upstream_response_timeout).status, 504);
}

TEST(ProxyError, ClientErrorsMapToTheirStatus) {
  EXPECT_EQ(error_info(ProxyError::header_section_too_large).status, 431);
  EXPECT_EQ(error_info(ProxyError::too_many_headers).status, 431);
  EXPECT_EQ(error_info(ProxyError::uri_too_long).status, 414);
  EXPECT_EQ(error_info(ProxyError::body_too_large).status, 413);
  EXPECT_EQ(error_info(ProxyError::client_header_timeout).status, 408);
  EXPECT_EQ(error_info(ProxyError::bad_version).status, 505);
  EXPECT_EQ(error_info(ProxyError::content_length_with_transfer_encoding).status, 400);
}

TEST(ProxyError, EveryReplyHasOneLineBodyAndALabel) {
  for (int i = 1; i < static_cast<int>(ProxyError::kCount); ++i) {
    const ErrorInfo& info = error_info(static_cast<ProxyError>(i));
    EXPECT_FALSE(info.type.empty()) << i;
    if (info.status == 0) continue;
    ASSERT_FALSE(info.body.empty()) << i;
    EXPECT_EQ(info.body.back(), '\n') << i;
    EXPECT_EQ(info.body.find('\n'), info.body.size() - 1) << i;
  }
}

}  // namespace
}  // namespace apimeter
