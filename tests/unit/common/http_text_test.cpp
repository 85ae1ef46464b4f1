// The shared HTTP text rules: case-insensitive comparison, OWS trimming, list elements.
#include "common/http_text.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace apimeter {
namespace {

TEST(HttpText, IequalsIgnoresAsciiCaseOnly) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_FALSE(iequals("chunked", "chunked "));
  EXPECT_FALSE(iequals("caf\xc3\xa9", "CAF\xc3\x89"));  // no Unicode folding
}

TEST(HttpText, TrimOwsRemovesSpacesAndTabsOnly) {
  EXPECT_EQ(trim_ows(" \t gzip \t"), "gzip");
  EXPECT_EQ(trim_ows("\r gzip"), "\r gzip");
  EXPECT_EQ(trim_ows("   "), "");
}

TEST(HttpText, ListTokensAreTrimmedAndEmptyElementsSkipped) {
  std::vector<std::string> tokens;
  for_each_list_token(" a ,, b\t,c ,", [&](std::string_view t) { tokens.emplace_back(t); });
  EXPECT_EQ(tokens, (std::vector<std::string>{"a", "b", "c"}));
}

}  // namespace
}  // namespace apimeter
