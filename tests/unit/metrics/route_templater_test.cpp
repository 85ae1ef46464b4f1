// Templating of unmatched paths: each placeholder shape, what stays literal, and the bounds.
#include "metrics/route_templater.hpp"

#include <gtest/gtest.h>

#include <string>

namespace apimeter::metrics {
namespace {

std::string templ(std::string_view path) {
  TemplateBuffer buffer;
  return std::string(template_path(path, buffer));
}

TEST(RouteTemplater, DecimalIdsBecomeIdPlaceholders) {
  EXPECT_EQ(templ("/users/42"), "/users/{id}");
  EXPECT_EQ(templ("/users/42/orders/7"), "/users/{id}/orders/{id}");
  EXPECT_EQ(templ("/prices/3.14"), "/prices/{id}");
  EXPECT_EQ(templ("/orders/ord_123456"), "/orders/{id}");
}

TEST(RouteTemplater, UuidsHexDatesEmailsAndTokensGetTheirPlaceholders) {
  EXPECT_EQ(templ("/orders/550e8400-e29b-41d4-a716-446655440000"), "/orders/{uuid}");
  EXPECT_EQ(templ("/orders/550E8400-E29B-41D4-A716-446655440000/items"), "/orders/{uuid}/items");
  EXPECT_EQ(templ("/blobs/5d41402abc4b2a76b9719d911017c592"), "/blobs/{hex}");
  EXPECT_EQ(templ("/objects/507f1f77bcf86cd799439011"), "/objects/{hex}");
  EXPECT_EQ(templ("/reports/2024-05-01"), "/reports/{date}");
  EXPECT_EQ(templ("/events/2024-05-01T10:00:00Z"), "/events/{date}");
  EXPECT_EQ(templ("/users/jane.doe@example.com"), "/users/{email}");
  EXPECT_EQ(templ("/users/jane%40example.com/cart"), "/users/{email}/cart");
  EXPECT_EQ(templ("/keys/dGhpcyBpcyBhIHRva2Vu"), "/keys/{token}");
  EXPECT_EQ(templ("/ulid/01ARZ3NDEKTSV4RRFFQ69G5FAV"), "/ulid/{token}");
  EXPECT_EQ(templ("/sessions/V1StGXR8_Z5jdHi6B-myT"), "/sessions/{token}");
}

TEST(RouteTemplater, OverlongAndNonPcharSegmentsAreTokens) {
  EXPECT_EQ(templ(std::string("/t/") + std::string(65, 'a')), "/t/{token}");
  EXPECT_EQ(templ("/a/{x}"), "/a/{token}");
  EXPECT_EQ(templ("/a/b%zz"), "/a/{token}");
  EXPECT_EQ(templ("/a/b\"c"), "/a/{token}");
}

TEST(RouteTemplater, WordsSlugsAndVersionsStayLiteral) {
  EXPECT_EQ(templ("/api/v1/health"), "/api/v1/health");
  EXPECT_EQ(templ("/blog/getting-started-with-apimeter"), "/blog/getting-started-with-apimeter");
  EXPECT_EQ(templ("/services/AuthenticationService"), "/services/AuthenticationService");
  EXPECT_EQ(templ("/hash/sha256/x"), "/hash/sha256/x");
  EXPECT_EQ(templ("/static/app.js"), "/static/app.js");
  EXPECT_EQ(templ("/cafe/deadbeefdeadbeef"), "/cafe/deadbeefdeadbeef");  // hex-looking word, no digit
}

TEST(RouteTemplater, KeepsEmptySegmentsAndTrailingSlashAndDropsTheQuery) {
  EXPECT_EQ(templ("/"), "/");
  EXPECT_EQ(templ("/users/42/"), "/users/{id}/");
  EXPECT_EQ(templ("/a//b"), "/a//b");
  EXPECT_EQ(templ("/search?q=42&page=2"), "/search");
}

TEST(RouteTemplater, RefusesWhatItCannotBoundOrRead) {
  EXPECT_EQ(templ(""), "");
  EXPECT_EQ(templ("*"), "");
  EXPECT_EQ(templ("http://example.com/a"), "");
  EXPECT_EQ(templ(std::string("/") + std::string(kMaxTemplatedPathBytes, 'a')), "");
  std::string many;
  for (std::size_t i = 0; i <= kMaxTemplateSegments; ++i) many += "/s";
  EXPECT_EQ(templ(many), "");
  // Many short literal segments that fit the input bound but not the output buffer.
  std::string wide;
  for (int i = 0; i < 5; ++i) wide += std::string("/") + std::string(60, 'w');
  EXPECT_EQ(templ(wide), "");
}

TEST(RouteTemplater, ClassifiesSegmentsIndividually) {
  EXPECT_EQ(classify_segment("12345"), SegmentKind::id);
  EXPECT_EQ(classify_segment("v1"), SegmentKind::literal);
  EXPECT_EQ(classify_segment("2024-13-01"), SegmentKind::id);  // not a date (month 13), but a digit run
  EXPECT_EQ(classify_segment("2024-02-30"), SegmentKind::date);
  EXPECT_EQ(classify_segment("user@localhost"), SegmentKind::literal);  // no dot in the domain
  EXPECT_EQ(placeholder(SegmentKind::uuid), "{uuid}");
}

}  // namespace
}  // namespace apimeter::metrics
