// Strict request/response head parsing: framing decisions and every request-smuggling refusal.
#include "proxy/http1/http_head_parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace apimeter {
namespace {

constexpr HeadLimits kLimits{16 * 1024, 100, 8 * 1024};

struct Parsed {
  ParseStatus status;
  ProxyError error;
  MessageHead head;
};

Parsed parse_request(std::string_view text, HeadLimits limits = kLimits) {
  HeadParser parser;
  Parsed p{};
  p.head.fields.reserve(limits.max_fields);
  p.status = parser.parse_request(text, limits, p.head, p.error);
  return p;
}

Parsed parse_response(std::string_view text, Method method = Method::get) {
  HeadParser parser;
  Parsed p{};
  p.status = parser.parse_response(text, kLimits, method, p.head, p.error);
  return p;
}

ProxyError request_error(std::string_view text) {
  Parsed p = parse_request(text);
  EXPECT_EQ(p.status, ParseStatus::error) << text;
  return p.error;
}

TEST(HttpHeadParser, SimpleGetIsParsedWithoutBody) {
  Parsed p = parse_request("GET /api/orders/7?x=1 HTTP/1.1\r\nHost: shop\r\nUser-Agent: t\r\n\r\n");
  ASSERT_EQ(p.status, ParseStatus::complete);
  EXPECT_EQ(p.head.method, "GET");
  EXPECT_EQ(p.head.method_id, Method::get);
  EXPECT_EQ(p.head.path, "/api/orders/7");
  EXPECT_EQ(p.head.query, "x=1");
  EXPECT_EQ(p.head.host, "shop");
  EXPECT_EQ(p.head.framing, BodyFraming::none);
  EXPECT_TRUE(p.head.keep_alive);
  ASSERT_EQ(p.head.fields.size(), 2u);
  EXPECT_EQ(p.head.fields[1].id, FieldId::user_agent);
}

TEST(HttpHeadParser, IncompleteHeadAsksForMoreAndResumes) {
  std::string text = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
  HeadParser parser;
  MessageHead head;
  ProxyError error;
  for (std::size_t n = 1; n < text.size() - 5; ++n)
    ASSERT_EQ(parser.parse_request(std::string_view(text).substr(0, n), kLimits, head, error), ParseStatus::incomplete) << n;
  ASSERT_EQ(parser.parse_request(text, kLimits, head, error), ParseStatus::complete);
  EXPECT_EQ(head.head_bytes, text.size() - 3);
  EXPECT_EQ(head.framing, BodyFraming::content_length);
  EXPECT_EQ(head.content_length, 3u);
}

TEST(HttpHeadParser, LeadingEmptyLinesBeforeRequestLineAreSkipped) {
  Parsed p = parse_request("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(p.status, ParseStatus::complete);
  EXPECT_EQ(p.head.head_bytes, 4u + 27u);
}

TEST(HttpHeadParser, ChunkedRequestIsFramedAsChunked) {
  Parsed p = parse_request("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChunKed\r\n\r\n");
  ASSERT_EQ(p.status, ParseStatus::complete);
  EXPECT_EQ(p.head.framing, BodyFraming::chunked);
}

TEST(HttpHeadParser, ContentLengthWithTransferEncodingIsRefused) {
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ProxyError::content_length_with_transfer_encoding);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
            ProxyError::content_length_with_transfer_encoding);
}

TEST(HttpHeadParser, DuplicateOrMalformedContentLengthIsRefused) {
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n"),
            ProxyError::duplicate_content_length);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n"), ProxyError::bad_content_length);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n"), ProxyError::bad_content_length);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n"), ProxyError::bad_content_length);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            ProxyError::bad_content_length);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n"), ProxyError::bad_content_length);
}

TEST(HttpHeadParser, TransferEncodingMustEndInChunkedOnce) {
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), ProxyError::bad_transfer_encoding);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            ProxyError::bad_transfer_encoding);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ProxyError::bad_transfer_encoding);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
            ProxyError::bad_transfer_encoding);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n"), ProxyError::bad_transfer_encoding);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"), ProxyError::bad_transfer_encoding);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            ProxyError::unsupported_transfer_coding);
}

TEST(HttpHeadParser, TransferEncodingInHttp10IsRefused) {
  EXPECT_EQ(request_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), ProxyError::transfer_encoding_in_http10);
}

TEST(HttpHeadParser, BareCrOrLfIsRefused) {
  EXPECT_EQ(request_error("GET / HTTP/1.1\nHost: a\r\n\r\n"), ProxyError::bare_cr_or_lf);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a\n\r\n"), ProxyError::bare_cr_or_lf);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"), ProxyError::bare_cr_or_lf);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a\r\n\n"), ProxyError::bare_cr_or_lf);
}

TEST(HttpHeadParser, ObsFoldIsRefused) {
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"), ProxyError::obs_fold);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n"), ProxyError::obs_fold);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), ProxyError::obs_fold);
}

TEST(HttpHeadParser, WhitespaceBeforeColonIsRefused) {
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), ProxyError::space_before_colon);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n"), ProxyError::space_before_colon);
}

TEST(HttpHeadParser, InvalidHeaderNamesAndValuesAreRefused) {
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n"), ProxyError::bad_header_name);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"), ProxyError::bad_header_name);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n"), ProxyError::bad_header_name);
  EXPECT_EQ(request_error(std::string_view("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 36)), ProxyError::bad_header_value);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n"), ProxyError::bad_header_value);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"), ProxyError::bad_header_value);
}

TEST(HttpHeadParser, ObsTextAndTabsInValuesAreAccepted) {
  Parsed p = parse_request("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\tok\r\n\r\n");
  ASSERT_EQ(p.status, ParseStatus::complete);
  EXPECT_EQ(p.head.fields[1].value, "caf\xc3\xa9\tok");
}

TEST(HttpHeadParser, HostMustAppearExactlyOnceInHttp11) {
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\n\r\n"), ProxyError::missing_host);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), ProxyError::duplicate_host);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), ProxyError::bad_host);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), ProxyError::bad_host);
  EXPECT_EQ(parse_request("GET / HTTP/1.0\r\n\r\n").status, ParseStatus::complete);
}

TEST(HttpHeadParser, RequestLineMustBeWellFormed) {
  EXPECT_EQ(request_error("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), ProxyError::bad_target);
  EXPECT_EQ(request_error("GET /\r\nHost: a\r\n\r\n"), ProxyError::bad_request_line);
  EXPECT_EQ(request_error("G@T / HTTP/1.1\r\nHost: a\r\n\r\n"), ProxyError::bad_request_line);
  EXPECT_EQ(request_error("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), ProxyError::bad_request_line);
  EXPECT_EQ(request_error("GET / http/1.1\r\nHost: a\r\n\r\n"), ProxyError::bad_request_line);
  EXPECT_EQ(request_error("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), ProxyError::bad_version);
  EXPECT_EQ(request_error("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"), ProxyError::bad_target);
  EXPECT_EQ(request_error("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), ProxyError::bad_target);
  EXPECT_EQ(request_error("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), ProxyError::bad_target);
  EXPECT_EQ(request_error("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"), ProxyError::method_not_supported);
}

TEST(HttpHeadParser, AbsoluteFormGivesAuthorityAndPath) {
  Parsed p = parse_request("GET http://shop:3000/api/x?q=1 HTTP/1.1\r\nHost: other\r\n\r\n");
  ASSERT_EQ(p.status, ParseStatus::complete);
  EXPECT_EQ(p.head.target_form, TargetForm::absolute);
  EXPECT_EQ(p.head.authority, "shop:3000");
  EXPECT_EQ(p.head.path, "/api/x");
  EXPECT_EQ(p.head.query, "q=1");
  EXPECT_EQ(request_error("GET http://user@shop/ HTTP/1.1\r\nHost: a\r\n\r\n"), ProxyError::bad_target);
  EXPECT_EQ(request_error("GET ftp://shop/ HTTP/1.1\r\nHost: a\r\n\r\n"), ProxyError::bad_target);
}

TEST(HttpHeadParser, LimitsGiveTheirOwnErrors) {
  std::string long_uri = "GET /" + std::string(200, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(parse_request(long_uri, {16 * 1024, 100, 100}).error, ProxyError::uri_too_long);
  // A request line still arriving is refused as soon as it cannot fit.
  std::string partial = "GET /" + std::string(500, 'a');
  EXPECT_EQ(parse_request(partial, {16 * 1024, 100, 100}).error, ProxyError::uri_too_long);
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 5; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(parse_request(many + "\r\n", {16 * 1024, 4, 100}).error, ProxyError::too_many_headers);
  std::string big = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(2000, 'v');
  EXPECT_EQ(parse_request(big, {1024, 100, 100}).error, ProxyError::header_section_too_large);
}

TEST(HttpHeadParser, ExpectOnlyAllows100Continue) {
  Parsed p = parse_request("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n");
  ASSERT_EQ(p.status, ParseStatus::complete);
  EXPECT_TRUE(p.head.expect_continue);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n"), ProxyError::expectation_failed);
}

TEST(HttpHeadParser, ConnectionTokensDecideKeepAliveAndUpgrade) {
  EXPECT_FALSE(parse_request("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").head.keep_alive);
  EXPECT_FALSE(parse_request("GET / HTTP/1.0\r\n\r\n").head.keep_alive);
  EXPECT_TRUE(parse_request("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").head.keep_alive);
  Parsed up = parse_request("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_TRUE(up.head.connection_upgrade);
  EXPECT_EQ(up.head.upgrade, "websocket");
  EXPECT_TRUE(up.head.connection_lists("upgrade"));
  EXPECT_FALSE(up.head.connection_lists("close"));
  EXPECT_TRUE(parse_request("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n").head.upgrade.empty());
}

TEST(HttpHeadParser, ResponseFramingFollowsRfc9112) {
  EXPECT_EQ(parse_response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").head.framing, BodyFraming::content_length);
  EXPECT_EQ(parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").head.framing, BodyFraming::chunked);
  Parsed close = parse_response("HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(close.head.framing, BodyFraming::until_close);
  EXPECT_FALSE(close.head.keep_alive);
  EXPECT_EQ(parse_response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Method::head).head.framing, BodyFraming::none);
  EXPECT_EQ(parse_response("HTTP/1.1 204 No Content\r\n\r\n").head.framing, BodyFraming::none);
  EXPECT_EQ(parse_response("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").head.framing, BodyFraming::none);
  EXPECT_EQ(parse_response("HTTP/1.1 100 Continue\r\n\r\n").head.status, 100);
  EXPECT_EQ(parse_response("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n").status, ParseStatus::complete);
  EXPECT_EQ(parse_response("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").status, ParseStatus::complete);
}

TEST(HttpHeadParser, MalformedResponsesAreRefused) {
  for (std::string_view text : {
           "HTTP/1.1 2x0 OK\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
           "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
           "HTTP/1.1 999 Nope\r\n\r\n",
           "ICY 200 OK\r\n\r\n",
       }) {
    Parsed p = parse_response(text);
    EXPECT_EQ(p.status, ParseStatus::error) << text;
    EXPECT_EQ(p.error, ProxyError::upstream_bad_response) << text;
  }
}


TEST(HttpHeadParser, MaxForwardsIsReadForOptionsAndTraceOnly) {
  Parsed options = parse_request("OPTIONS * HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n");
  ASSERT_EQ(options.status, ParseStatus::complete);
  EXPECT_EQ(options.head.max_forwards, 0);
  Parsed trace = parse_request("TRACE / HTTP/1.1\r\nHost: a\r\nmax-forwards: 12\r\n\r\n");
  ASSERT_EQ(trace.status, ParseStatus::complete);
  EXPECT_EQ(trace.head.max_forwards, 12);
  Parsed absent = parse_request("OPTIONS / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(absent.head.max_forwards, -1);
  // Other methods may ignore the field (RFC 9110 7.6.2): it passes as any other field, even malformed.
  Parsed get = parse_request("GET / HTTP/1.1\r\nHost: a\r\nMax-Forwards: x\r\n\r\n");
  ASSERT_EQ(get.status, ParseStatus::complete);
  EXPECT_EQ(get.head.max_forwards, -1);
  Parsed huge = parse_request("TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 99999999999999999999999\r\n\r\n");
  ASSERT_EQ(huge.status, ParseStatus::complete);
  EXPECT_EQ(huge.head.max_forwards, 0x7fffffff);
}

TEST(HttpHeadParser, AmbiguousMaxForwardsOnOptionsOrTraceIsRefused) {
  for (std::string_view field : {"Max-Forwards: \r\n", "Max-Forwards: -1\r\n", "Max-Forwards: 1 2\r\n",
                                 "Max-Forwards: 0x1\r\n", "Max-Forwards: 1\r\nMax-Forwards: 0\r\n"}) {
    std::string text = "OPTIONS / HTTP/1.1\r\nHost: a\r\n" + std::string(field) + "\r\n";
    EXPECT_EQ(request_error(text), ProxyError::bad_max_forwards) << text;
  }
}

TEST(HeadParserFields, H2cOffersAreRecognisedInAnyPositionAndCase) {
  EXPECT_TRUE(offers_h2c("h2c"));
  EXPECT_TRUE(offers_h2c("websocket, H2C"));
  EXPECT_TRUE(offers_h2c(" h2c/1 ,foo"));
  EXPECT_FALSE(offers_h2c("websocket"));
  EXPECT_FALSE(offers_h2c("h2"));
  EXPECT_FALSE(offers_h2c("h2cx"));
  EXPECT_FALSE(offers_h2c(""));
}

TEST(HeadParserFields, FramingLookalikesAreOnlyTheUnderscoreSpellings) {
  EXPECT_TRUE(is_framing_lookalike("Content_Length"));
  EXPECT_TRUE(is_framing_lookalike("transfer_encoding"));
  EXPECT_FALSE(is_framing_lookalike("Content-length_"));
  EXPECT_TRUE(is_framing_lookalike("TRANSFER_encoding"));
  EXPECT_FALSE(is_framing_lookalike("Transfer-Encoding_"));
  EXPECT_FALSE(is_framing_lookalike("Content_Len"));
  EXPECT_FALSE(is_framing_lookalike("Content-Length"));  // the real one is handled as framing
  EXPECT_FALSE(is_framing_lookalike("X_Content_Length"));
}

}  // namespace
}  // namespace apimeter
