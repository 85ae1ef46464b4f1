// The http_request_method label: standard methods kept, everything else "_OTHER".
#include "metrics/http_method.hpp"

#include <gtest/gtest.h>

namespace apimeter::metrics {
namespace {

TEST(HttpMethod, StandardMethodsKeepTheirName) {
  for (std::string_view m : {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
    EXPECT_EQ(method_label(normalize_method(m)), m);
}

TEST(HttpMethod, UnknownOrMiscasedMethodsBecomeOther) {
  for (std::string_view m : {"get", "PROPFIND", "BREW", "", "GETS", "POS", "DELETE "})
    EXPECT_EQ(method_label(normalize_method(m)), "_OTHER") << m;
}

}  // namespace
}  // namespace apimeter::metrics
