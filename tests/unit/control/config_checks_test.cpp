// The single-field checks the loader and the validation share: what each accepts, and that each message
// quotes the text it refuses.
#include "control/config_checks.hpp"

#include <gtest/gtest.h>

namespace apimeter {
namespace {

std::string refusal(bool (*check)(std::string_view, std::string&), std::string_view text) {
  std::string error;
  EXPECT_FALSE(check(text, error)) << text;
  return error;
}

bool accepts(bool (*check)(std::string_view, std::string&), std::string_view text) {
  std::string error;
  return check(text, error) && error.empty();
}

TEST(ConfigChecks, MethodsAreUpperCaseTokensAndALowerCaseOneIsNamedWithItsFix) {
  EXPECT_TRUE(accepts(check_method, "GET"));
  EXPECT_TRUE(accepts(check_method, "PROPFIND"));
  EXPECT_EQ(refusal(check_method, "get"), "method \"get\" must be upper case (methods are case-sensitive): GET");
  EXPECT_EQ(refusal(check_method, "GE T"), "method \"GE T\" is not an HTTP token");
  EXPECT_EQ(refusal(check_method, ""), "method \"\" is not an HTTP token");
}

TEST(ConfigChecks, HeaderAndCookieNamesAreTokens) {
  EXPECT_TRUE(accepts(check_header_name, "X-User-Id"));
  EXPECT_TRUE(accepts(check_cookie_name, "session_id"));
  EXPECT_EQ(refusal(check_header_name, ""), "header name is empty");
  EXPECT_NE(refusal(check_header_name, "X User").find("\"X User\" is not an HTTP token"), std::string::npos);
  EXPECT_NE(refusal(check_cookie_name, "a=b").find("\"a=b\" is not a token"), std::string::npos);
}

TEST(ConfigChecks, LabelNamesArePrometheusNamesApimeterDoesNotSet) {
  EXPECT_TRUE(accepts(check_label_name, "tenant"));
  EXPECT_NE(refusal(check_label_name, "1tenant").find("not a Prometheus label name"), std::string::npos);
  EXPECT_NE(refusal(check_label_name, "__name").find("reserves"), std::string::npos);
  for (std::string_view own : {"http_route", "service", "le", "quantile", "user"})
    EXPECT_NE(refusal(check_label_name, own).find("apimeter sets itself"), std::string::npos) << own;
}

TEST(ConfigChecks, LabelValuesArePlainAndNotTheOverflowValue) {
  EXPECT_TRUE(accepts(check_label_value, "eu-west-1"));
  EXPECT_NE(refusal(check_label_value, "_other").find("outside the list"), std::string::npos);
  EXPECT_NE(refusal(check_label_value, "a b").find("may only contain"), std::string::npos);
  EXPECT_NE(refusal(check_label_value, std::string(200, 'a')).find("longer than"), std::string::npos);
}

TEST(ConfigChecks, PatternsAreCheckedByTheirKind) {
  std::string error;
  EXPECT_TRUE(check_pattern(RouteMatch::path_template, "/orders/{id}", error)) << error;
  EXPECT_TRUE(check_pattern(RouteMatch::prefix, "/api/", error)) << error;
  EXPECT_FALSE(check_pattern(RouteMatch::path_template, "/orders/{id", error));
  EXPECT_EQ(error.rfind("invalid template \"/orders/{id\": ", 0), 0u) << error;
  EXPECT_FALSE(check_pattern(RouteMatch::exact, "orders", error));
  EXPECT_EQ(error.rfind("invalid exact \"orders\": ", 0), 0u) << error;
}

TEST(ConfigChecks, BoundsMustBeStrictlyIncreasingAndPositiveWhereAsked) {
  std::string error;
  EXPECT_TRUE(check_bounds(std::vector<double>{0.1, 1}, true, error));
  EXPECT_FALSE(check_bounds(std::vector<double>{}, true, error));
  EXPECT_EQ(error, "no buckets");
  EXPECT_FALSE(check_bounds(std::vector<double>{0, 1}, true, error));
  EXPECT_EQ(error, "bucket #1 must be more than 0");
  EXPECT_TRUE(check_bounds(std::vector<std::uint64_t>{0, 64}, false, error));
  EXPECT_FALSE(check_bounds(std::vector<std::uint64_t>{64, 64}, false, error));
  EXPECT_EQ(error, "bucket #2 is not greater than the one before it; buckets must be strictly increasing");
}

}  // namespace
}  // namespace apimeter
