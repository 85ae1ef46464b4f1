// Route patterns: which templates, exact paths and prefixes are accepted, and what a template matches.
#include "control/route_template.hpp"

#include <gtest/gtest.h>

namespace apimeter {
namespace {

RouteTemplate parsed(std::string_view text) {
  std::string error;
  std::optional<RouteTemplate> result = RouteTemplate::parse(text, error);
  EXPECT_TRUE(result.has_value()) << text << ": " << error;
  return result ? *result : RouteTemplate{};
}

std::string parse_error(std::string_view text) {
  std::string error;
  EXPECT_FALSE(RouteTemplate::parse(text, error).has_value()) << text;
  return error;
}

TEST(RouteTemplate, SplitsIntoLiteralAndVariableSegments) {
  const RouteTemplate t = parsed("/api/users/{uid}/cart");
  ASSERT_EQ(t.segments().size(), 4u);
  EXPECT_FALSE(t.segments()[0].variable);
  EXPECT_EQ(t.segments()[0].text, "api");
  EXPECT_TRUE(t.segments()[2].variable);
  EXPECT_EQ(t.segments()[2].text, "uid");
  EXPECT_EQ(t.segments()[3].text, "cart");
  EXPECT_FALSE(t.trailing_slash());
  EXPECT_EQ(t.literal_prefix(), "/api/users/");
  EXPECT_EQ(t.text(), "/api/users/{uid}/cart");
}

TEST(RouteTemplate, AcceptsRootTrailingSlashAndAllPchars) {
  EXPECT_TRUE(parsed("/").segments().empty());
  EXPECT_TRUE(parsed("/a/{id}/").trailing_slash());
  EXPECT_EQ(parsed("/a-b.c_d~e!$&'()*+,;=:@/%2F/{_x9}").segments().size(), 3u);
}

TEST(RouteTemplate, RejectsMissingLeadingSlash) {
  EXPECT_NE(parse_error("api/{id}").find("start with /"), std::string::npos);
  EXPECT_NE(parse_error("").find("start with /"), std::string::npos);
}

TEST(RouteTemplate, RejectsBracesOutsideAWholeSegmentVariable) {
  for (const char* text :
       {"/api/{id}.json", "/api/x{id}", "/{a}{b}", "/a/{", "/a/}", "/a/{{id}}", "/a/{id"}) {
    EXPECT_NE(parse_error(text).find("whole segment"), std::string::npos) << text;
  }
}

TEST(RouteTemplate, RejectsBadOrRepeatedVariableNames) {
  EXPECT_NE(parse_error("/{}").find("variable name"), std::string::npos);
  EXPECT_NE(parse_error("/{1x}").find("variable name"), std::string::npos);
  EXPECT_NE(parse_error("/{a-b}").find("variable name"), std::string::npos);
  EXPECT_NE(parse_error("/{id}/x/{id}").find("twice"), std::string::npos);
}

TEST(RouteTemplate, RejectsEmptySegmentsExceptOneTrailingSlash) {
  for (const char* text : {"//", "/a//b", "/a//", "//a"}) {
    EXPECT_NE(parse_error(text).find("empty segment"), std::string::npos) << text;
  }
}

TEST(RouteTemplate, RejectsQueryFragmentAndNonPchars) {
  EXPECT_NE(parse_error("/a?b=1").find("query"), std::string::npos);
  EXPECT_NE(parse_error("/a#top").find("#"), std::string::npos);
  EXPECT_NE(parse_error("/a b").find("character space is not allowed"), std::string::npos);
  EXPECT_NE(parse_error("/a\x01").find("0x01"), std::string::npos);
  EXPECT_NE(parse_error("/a\"b").find("not allowed"), std::string::npos);
  EXPECT_NE(parse_error("/a%2").find("two hex digits"), std::string::npos);
  EXPECT_NE(parse_error("/a%zz").find("two hex digits"), std::string::npos);
  EXPECT_NE(parse_error("/static/*").find("glob"), std::string::npos);
}

TEST(RouteTemplate, VariableMatchesOneNonEmptySegment) {
  const RouteTemplate t = parsed("/api/orders/{id}");
  EXPECT_TRUE(t.matches("/api/orders/42"));
  EXPECT_TRUE(t.matches("/api/orders/a%20b"));
  EXPECT_FALSE(t.matches("/api/orders/"));
  EXPECT_FALSE(t.matches("/api/orders"));
  EXPECT_FALSE(t.matches("/api/orders/42/items"));
  EXPECT_FALSE(t.matches("/api/orders//"));
  EXPECT_FALSE(t.matches("/api/order/42"));
  EXPECT_FALSE(t.matches("/API/orders/42"));
  EXPECT_FALSE(t.matches("api/orders/42"));
  EXPECT_FALSE(t.matches(""));
}

TEST(RouteTemplate, TrailingSlashInPathIsSignificant) {
  const RouteTemplate t = parsed("/a/{x}");
  EXPECT_TRUE(t.matches("/a/b"));
  EXPECT_FALSE(t.matches("/a/b/"));
  EXPECT_FALSE(parsed("/a/b").matches("/a/b/"));
}

TEST(RouteTemplate, TemplateEndingInSlashMakesItOptional) {
  const RouteTemplate t = parsed("/a/{x}/");
  EXPECT_TRUE(t.matches("/a/b/"));
  EXPECT_TRUE(t.matches("/a/b"));
  EXPECT_FALSE(t.matches("/a/b//"));
  EXPECT_FALSE(t.matches("/a/b/c"));
  EXPECT_FALSE(t.matches("/a/"));
}

TEST(RouteTemplate, RootMatchesOnlyRoot) {
  const RouteTemplate t = parsed("/");
  EXPECT_TRUE(t.matches("/"));
  EXPECT_FALSE(t.matches("/a"));
  EXPECT_FALSE(t.matches("//"));
}

TEST(RouteTemplate, LiteralsAreCaseSensitiveAndNotDecoded) {
  const RouteTemplate t = parsed("/caf%C3%A9/{x}");
  EXPECT_TRUE(t.matches("/caf%C3%A9/1"));
  EXPECT_FALSE(t.matches("/caf%c3%a9/1"));
}

TEST(RouteTemplate, CoversWhenEverySegmentIsAVariableOrTheSameLiteral) {
  EXPECT_TRUE(parsed("/a/{x}").covers(parsed("/a/{y}")));    // same shape
  EXPECT_TRUE(parsed("/{p}/{q}").covers(parsed("/a/{y}")));  // more general
  EXPECT_FALSE(parsed("/a/{y}").covers(parsed("/{p}/{q}")));
  EXPECT_FALSE(parsed("/a/{x}").covers(parsed("/b/{x}")));
  EXPECT_FALSE(parsed("/a/{x}").covers(parsed("/a/{x}/c")));
  EXPECT_TRUE(parsed("/a/{x}/").covers(parsed("/a/{x}")));  // optional slash includes no slash
  EXPECT_FALSE(parsed("/a/{x}").covers(parsed("/a/{x}/")));
  EXPECT_TRUE(parsed("/").covers(parsed("/")));
}

TEST(RoutePattern, FollowTheSameCharacterRulesWithoutVariables) {
  std::string error;
  EXPECT_TRUE(check_exact_path("/api/search", error));
  EXPECT_TRUE(check_exact_path("/", error));
  EXPECT_FALSE(check_exact_path("api", error));
  EXPECT_FALSE(check_exact_path("/a/{id}", error));
  EXPECT_NE(error.find("only a template"), std::string::npos);
  EXPECT_FALSE(check_exact_path("/a?x", error));
  EXPECT_TRUE(check_prefix("/static/", error));
  EXPECT_TRUE(check_prefix("/", error));
  EXPECT_FALSE(check_prefix("static/", error));
  EXPECT_FALSE(check_prefix("/static/*", error));
  EXPECT_FALSE(check_prefix("/{x}/", error));
}

}  // namespace
}  // namespace apimeter
