// An HTTP/2 stream's fields to the HTTP/1.1 head the upstream gets: RFC 9113's malformed cases refused,
// Host from :authority, cookie crumbs joined, framing for a body, and the HTTP/1.1 parser's own rules.
#include "proxy/http2/request_head.hpp"

#include <gtest/gtest.h>

#include <array>
#include <initializer_list>
#include <string>
#include <utility>

#include "proxy/http1/header_rewriter.hpp"

namespace apimeter {
namespace {

constexpr HeadLimits kLimits{16 * 1024, 100, 8 * 1024};
using Fields = std::initializer_list<std::pair<std::string_view, std::string_view>>;

struct Built {
  bool ok = false;
  ProxyError error = ProxyError::none;
  MessageHead head;
  std::array<char, 4096> storage{};
};

// The decoder's buffers are gone after each callback: every field is passed from a temporary copy that is
// overwritten right after, so a view kept into it would show.
void build(Built& b, Fields fields, bool body_follows = false, std::size_t capacity = 4096) {
  Http2RequestHead builder;
  builder.begin(b.storage.data(), capacity);
  b.head.fields.reserve(kLimits.max_fields);
  b.ok = true;
  for (const auto& [name, value] : fields) {
    std::string n(name), v(value);
    b.ok = builder.add(n, v, b.error);
    n.assign(n.size(), '#');
    v.assign(v.size(), '#');
    if (!b.ok) return;
  }
  b.ok = builder.finish(body_follows, kLimits, b.head, b.error);
}

std::string_view field(const MessageHead& head, std::string_view name) {
  for (const HeaderField& f : head.fields)
    if (iequals(f.name, name)) return f.value;
  return "<none>";
}

ProxyError refused(Fields fields, bool body_follows = false) {
  Built b;
  build(b, fields, body_follows);
  EXPECT_FALSE(b.ok);
  return b.error;
}

TEST(Http2RequestHead, GetBecomesAnHttp11HeadWithHostFromAuthority) {
  Built b;
  build(b, {{":method", "GET"},
            {":scheme", "https"},
            {":authority", "shop.example:8443"},
            {":path", "/orders/42?full=1"},
            {"user-agent", "curl/7.88"},
            {"accept", "*/*"}});
  ASSERT_TRUE(b.ok) << error_info(b.error).type;
  EXPECT_EQ(b.head.method_id, Method::get);
  EXPECT_EQ(b.head.target, "/orders/42?full=1");
  EXPECT_EQ(b.head.path, "/orders/42");
  EXPECT_EQ(b.head.query, "full=1");
  EXPECT_EQ(b.head.host, "shop.example:8443");
  EXPECT_EQ(field(b.head, "user-agent"), "curl/7.88");
  EXPECT_EQ(b.head.find(FieldId::user_agent)->value, "curl/7.88");
  EXPECT_EQ(b.head.framing, BodyFraming::none);
}

TEST(Http2RequestHead, BodyWithoutLengthGoesUpChunkedAndWithLengthKeepsIt) {
  Built chunked;
  build(chunked, {{":method", "POST"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/upload"}}, true);
  ASSERT_TRUE(chunked.ok);
  EXPECT_EQ(chunked.head.framing, BodyFraming::chunked);

  Built sized;
  build(sized,
        {{":method", "POST"},
         {":scheme", "http"},
         {":authority", "a"},
         {":path", "/upload"},
         {"content-length", "5"}},
        true);
  ASSERT_TRUE(sized.ok);
  EXPECT_EQ(sized.head.framing, BodyFraming::content_length);
  EXPECT_EQ(sized.head.content_length, 5u);

  // The upstream head carries exactly one framing, the canonical one.
  char out[1024];
  HeadWriter writer(out, sizeof out);
  UpstreamRequestContext context;
  write_upstream_request_head(chunked.head, context, writer);
  EXPECT_NE(writer.view().find("Transfer-Encoding: chunked\r\n"), std::string_view::npos) << writer.view();
  EXPECT_EQ(writer.view().find("Content-Length"), std::string_view::npos);
}

TEST(Http2RequestHead, CookieCrumbsAreJoinedIntoOneField) {
  Built b;
  build(b, {{":method", "GET"},
            {":scheme", "http"},
            {":authority", "a"},
            {":path", "/"},
            {"cookie", "a=1"},
            {"accept", "x"},
            {"cookie", "b=2"},
            {"cookie", "c=3"}});
  ASSERT_TRUE(b.ok);
  int cookies = 0;
  for (const HeaderField& f : b.head.fields) cookies += f.name == "cookie";
  EXPECT_EQ(cookies, 1);
  EXPECT_EQ(field(b.head, "cookie"), "a=1; b=2; c=3");
  EXPECT_EQ(field(b.head, "accept"), "x");
}

TEST(Http2RequestHead, AsteriskOptionsAndMissingAuthorityFollowHttp11Rules) {
  Built options;
  build(options, {{":method", "OPTIONS"}, {":scheme", "http"}, {":authority", "a"}, {":path", "*"}});
  ASSERT_TRUE(options.ok);
  EXPECT_EQ(options.head.target_form, TargetForm::asterisk);
  EXPECT_EQ(refused({{":method", "OPTIONS"},
                     {":scheme", "http"},
                     {":authority", "a"},
                     {":path", "*"},
                     {"max-forwards", "x"}}),
            ProxyError::bad_max_forwards);
  // No :authority and no Host: HTTP/1.1 requires a Host.
  EXPECT_EQ(refused({{":method", "GET"}, {":scheme", "http"}, {":path", "/"}}), ProxyError::missing_host);
  Built host_field;
  build(host_field, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "b.example"}});
  ASSERT_TRUE(host_field.ok);
  EXPECT_EQ(host_field.head.host, "b.example");
}

TEST(Http2RequestHead, MalformedPseudoHeaderSectionsAreRefused) {
  // Missing, repeated, unknown, response-only and late pseudo-headers.
  EXPECT_EQ(refused({{":scheme", "http"}, {":path", "/"}}), ProxyError::bad_request_line);
  EXPECT_EQ(refused({{":method", "GET"}, {":scheme", "http"}, {":authority", "a"}}), ProxyError::bad_target);
  EXPECT_EQ(refused({{":method", "GET"}, {":scheme", "http"}, {":path", ""}}), ProxyError::bad_target);
  EXPECT_EQ(refused({{":method", "GET"}, {":method", "POST"}, {":scheme", "http"}, {":path", "/"}}),
            ProxyError::bad_header_name);
  EXPECT_EQ(refused({{":method", "GET"}, {":status", "200"}}), ProxyError::bad_header_name);
  EXPECT_EQ(refused({{":method", "GET"}, {":protocol", "websocket"}}), ProxyError::bad_header_name);
  EXPECT_EQ(
      refused(
          {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"accept", "x"}, {":authority", "a"}}),
      ProxyError::bad_header_name);
  EXPECT_EQ(refused({{":method", "GET"}, {":scheme", "ftp"}, {":authority", "a"}, {":path", "/"}}),
            ProxyError::bad_target);
  // An absolute URI in :path would bring its own authority past :authority.
  EXPECT_EQ(
      refused({{":method", "GET"}, {":scheme", "http"}, {":authority", "a"}, {":path", "http://evil/x"}}),
      ProxyError::bad_target);
  EXPECT_EQ(refused({{":method", "CONNECT"}, {":authority", "a:443"}}), ProxyError::method_not_supported);
}

TEST(Http2RequestHead, ConnectionSpecificAndNonLowercaseFieldsAreRefused) {
  const Fields base = {{":method", "GET"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/"}};
  auto with = [&](std::string_view name, std::string_view value) {
    Built b;
    Http2RequestHead builder;
    builder.begin(b.storage.data(), b.storage.size());
    ProxyError error = ProxyError::none;
    for (const auto& [n, v] : base) EXPECT_TRUE(builder.add(n, v, error));
    if (!builder.add(name, value, error)) return error;
    EXPECT_FALSE(builder.finish(false, kLimits, b.head, error)) << name << ": " << value;
    return error;
  };
  EXPECT_EQ(with("connection", "close"), ProxyError::bad_header_name);
  EXPECT_EQ(with("transfer-encoding", "chunked"), ProxyError::bad_header_name);
  EXPECT_EQ(with("upgrade", "websocket"), ProxyError::bad_header_name);
  EXPECT_EQ(with("keep-alive", "5"), ProxyError::bad_header_name);
  EXPECT_EQ(with("proxy-connection", "x"), ProxyError::bad_header_name);
  EXPECT_EQ(with("te", "gzip"), ProxyError::bad_header_value);
  EXPECT_EQ(with("Accept", "x"), ProxyError::bad_header_name);
  EXPECT_EQ(with("bad name", "x"), ProxyError::bad_header_name);
  // What HTTP/1.1 would read as structure: a line break or NUL in a value, padding around it.
  EXPECT_EQ(with("x-a", "1\r\nx-injected: 2"), ProxyError::bad_header_value);
  EXPECT_EQ(with("x-a", std::string_view("1\0", 2)), ProxyError::bad_header_value);
  EXPECT_EQ(with("x-a", " padded"), ProxyError::bad_header_value);
  // A Host that names another server than :authority; two lengths that disagree; a length that is no number.
  EXPECT_EQ(with("host", "other.example"), ProxyError::bad_host);
  EXPECT_EQ(with("content-length", "1, 2"), ProxyError::bad_content_length);
  EXPECT_EQ(with("content-length", "-1"), ProxyError::bad_content_length);
}

TEST(Http2RequestHead, TeTrailersAndAMatchingHostAreAccepted) {
  Built b;
  build(b,
        {{":method", "POST"},
         {":scheme", "http"},
         {":authority", "a"},
         {":path", "/pkg.Svc/Call"},
         {"te", "trailers"},
         {"host", "a"},
         {"content-type", "application/grpc"}},
        true);
  ASSERT_TRUE(b.ok) << error_info(b.error).type;
  EXPECT_EQ(b.head.host, "a");
  EXPECT_EQ(field(b.head, "te"), "trailers");
}

TEST(Http2RequestHead, AHeadLargerThanItsStorageIsRefusedNotCut) {
  std::string big(600, 'v');
  Built b;
  build(b,
        {{":method", "GET"},
         {":scheme", "http"},
         {":authority", "a"},
         {":path", "/"},
         {"x-a", big},
         {"x-b", big}},
        false, 1024);
  EXPECT_FALSE(b.ok);
  EXPECT_EQ(b.error, ProxyError::header_section_too_large);
  // Cookie crumbs count against the same room.
  Built c;
  build(c,
        {{":method", "GET"},
         {":scheme", "http"},
         {":authority", "a"},
         {":path", "/"},
         {"cookie", big},
         {"cookie", big}},
        false, 1024);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.error, ProxyError::header_section_too_large);
}

}  // namespace
}  // namespace apimeter
