// Method classification shared by the parser and the http_request_method label.
#include "common/http_method.hpp"

#include <gtest/gtest.h>

namespace apimeter {
namespace {

TEST(HttpMethod, StandardMethodsKeepTheirName) {
  for (std::string_view m : {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
    EXPECT_EQ(method_label(classify_method(m)), m);
}

TEST(HttpMethod, UnknownOrMiscasedMethodsBecomeOther) {
  for (std::string_view m : {"get", "PROPFIND", "BREW", "", "GETS", "POS", "DELETE "})
    EXPECT_EQ(method_label(classify_method(m)), "_OTHER") << m;
}

}  // namespace
}  // namespace apimeter
