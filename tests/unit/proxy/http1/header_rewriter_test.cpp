// Header transforms: what the upstream and the client receive, byte for byte.
#include "proxy/http1/header_rewriter.hpp"

#include <gtest/gtest.h>

#include <string>

namespace apimeter {
namespace {

constexpr HeadLimits kLimits{16 * 1024, 100, 8 * 1024};

MessageHead request(std::string_view text) {
  HeadParser parser;
  MessageHead head;
  ProxyError error;
  EXPECT_EQ(parser.parse_request(text, kLimits, head, error), ParseStatus::complete) << text;
  return head;
}

MessageHead response(std::string_view text, Method method = Method::get) {
  HeadParser parser;
  MessageHead head;
  ProxyError error;
  EXPECT_EQ(parser.parse_response(text, kLimits, method, head, error), ParseStatus::complete) << text;
  return head;
}

std::string upstream_head(std::string_view text, UpstreamRequestContext ctx = {}) {
  static char buffer[8192];
  if (ctx.client_ip.empty()) ctx.client_ip = "10.1.2.3";
  HeadWriter writer(buffer, sizeof buffer);
  MessageHead head = request(text);
  write_upstream_request_head(head, ctx, writer);
  EXPECT_FALSE(writer.overflowed());
  return std::string(writer.view());
}

TEST(HeaderRewriter, RequestGetsForwardedHeadersAndVia) {
  EXPECT_EQ(upstream_head("GET /a?b=1 HTTP/1.1\r\nHost: shop\r\nAccept: */*\r\n\r\n"),
            "GET /a?b=1 HTTP/1.1\r\nHost: shop\r\nAccept: */*\r\nX-Forwarded-For: 10.1.2.3\r\n"
            "X-Forwarded-Proto: http\r\nX-Forwarded-Host: shop\r\nVia: 1.1 apimeter\r\n\r\n");
}

TEST(HeaderRewriter, HopByHopAndConnectionNamedFieldsAreRemoved) {
  std::string out = upstream_head(
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: timeout=5\r\n"
      "Proxy-Connection: keep-alive\r\nTE: trailers\r\nX-Secret: 1\r\nUpgrade: h2c\r\nX-Kept: 2\r\n\r\n");
  for (std::string_view gone : {"Connection", "Keep-Alive", "Proxy-Connection", "TE:", "X-Secret", "Upgrade"})
    EXPECT_EQ(out.find(gone), std::string::npos) << gone << " in\n" << out;
  EXPECT_NE(out.find("X-Kept: 2\r\n"), std::string::npos);
}

TEST(HeaderRewriter, ExistingForwardedForAndViaAreAppendedTo) {
  std::string out = upstream_head(
      "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\nVia: 1.1 lb\r\n\r\n");
  EXPECT_NE(out.find("X-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.1.2.3\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Via: 1.1 lb, 1.1 apimeter\r\n"), std::string::npos) << out;
}

TEST(HeaderRewriter, ClientForwardedProtoIsReplacedUnlessTrusted) {
  std::string text = "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: public\r\n\r\n";
  std::string untrusted = upstream_head(text);
  EXPECT_NE(untrusted.find("X-Forwarded-Proto: http\r\n"), std::string::npos);
  EXPECT_NE(untrusted.find("X-Forwarded-Host: a\r\n"), std::string::npos);
  UpstreamRequestContext trusted;
  trusted.trust_forwarded_headers = true;
  std::string kept = upstream_head(text, trusted);
  EXPECT_NE(kept.find("X-Forwarded-Proto: https\r\n"), std::string::npos);
  EXPECT_NE(kept.find("X-Forwarded-Host: public\r\n"), std::string::npos);
}

TEST(HeaderRewriter, FramingIsReEmittedCanonically) {
  EXPECT_NE(upstream_head("POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 007\r\n\r\n").find("Content-Length: 7\r\n"),
            std::string::npos);
  std::string chunked = upstream_head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
  EXPECT_NE(chunked.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(chunked.find("Chunked"), std::string::npos);
}

TEST(HeaderRewriter, AbsoluteFormBecomesOriginFormWithHostFromTarget) {
  std::string out = upstream_head("GET http://shop:3000/x?y HTTP/1.1\r\nHost: evil\r\n\r\n");
  EXPECT_EQ(out.rfind("GET /x?y HTTP/1.1\r\nHost: shop:3000\r\n", 0), 0u) << out;
  EXPECT_EQ(out.find("evil"), std::string::npos);
}

TEST(HeaderRewriter, Http10RequestIsSentAsHttp11WithVia10) {
  std::string out = upstream_head("GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(out.rfind("GET / HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(out.find("Via: 1.0 apimeter\r\n"), std::string::npos);
}

TEST(HeaderRewriter, UpgradeIsForwardedWhenAsked) {
  UpstreamRequestContext ctx;
  ctx.upgrade = true;
  std::string out = upstream_head("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", ctx);
  EXPECT_NE(out.find("Connection: upgrade\r\nUpgrade: websocket\r\n"), std::string::npos) << out;
}

TEST(HeaderRewriter, ResponseHopByHopRemovedAndFramingSet) {
  char buffer[4096];
  HeadWriter writer(buffer, sizeof buffer);
  MessageHead head = response(
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Internal\r\nX-Internal: 1\r\nKeep-Alive: timeout=5\r\n"
      "Content-Length: 12\r\nServer: demo\r\n\r\n");
  ClientResponseContext ctx;
  ctx.framing = ClientBodyFraming::content_length;
  ctx.keep_alive = false;
  write_client_response_head(head, ctx, writer);
  EXPECT_EQ(writer.view(),
            "HTTP/1.1 200 OK\r\nServer: demo\r\nVia: 1.1 apimeter\r\nContent-Length: 12\r\nConnection: close\r\n\r\n");
}

TEST(HeaderRewriter, HeadResponseKeepsItsContentLength) {
  char buffer[4096];
  HeadWriter writer(buffer, sizeof buffer);
  MessageHead head = response("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", Method::head);
  ClientResponseContext ctx;
  write_client_response_head(head, ctx, writer);
  EXPECT_NE(std::string(writer.view()).find("Content-Length: 99\r\n"), std::string::npos);
}

TEST(HeaderRewriter, LocalReplyIsCompleteAndSaysWhy) {
  char buffer[512];
  HeadWriter writer(buffer, sizeof buffer);
  write_local_reply(502, "upstream connection refused\n", false, writer);
  EXPECT_EQ(writer.view(),
            "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 28\r\n"
            "Connection: close\r\n\r\nupstream connection refused\n");
}

TEST(HeaderRewriter, WriterStopsAtCapacity) {
  char buffer[8];
  HeadWriter writer(buffer, sizeof buffer);
  writer.append("1234");
  writer.append("56789");
  EXPECT_TRUE(writer.overflowed());
  EXPECT_EQ(writer.size(), 4u);
}

TEST(HeaderRewriter, TraceContextIsReplacedAndTracestateKeptWithAValidParent) {
  const std::string_view ours[] = {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"};
  UpstreamRequestContext ctx;
  ctx.replace_trace_context = true;
  ctx.keep_tracestate = true;
  ctx.extra_fields = ours;
  ctx.extra_field_count = 1;
  const std::string head = upstream_head(
      "GET / HTTP/1.1\r\nHost: a\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
      "tracestate: congo=t61rcWkgMzE\r\nb3: 1\r\nX-B3-TraceId: 463ac35c9f6413ad\r\nX-B3-Sampled: 1\r\n\r\n",
      ctx);
  EXPECT_EQ(head.find("b7ad6b7169203331"), std::string::npos) << head;
  EXPECT_EQ(head.find("b3:"), std::string::npos) << head;
  EXPECT_EQ(head.find("X-B3-"), std::string::npos) << head;
  EXPECT_NE(head.find("tracestate: congo=t61rcWkgMzE\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("traceparent: 00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01\r\n"), std::string::npos);
}

TEST(HeaderRewriter, TracestateIsDroppedWhenTheTraceRestarts) {
  UpstreamRequestContext ctx;
  ctx.replace_trace_context = true;
  ctx.keep_tracestate = false;
  const std::string head = upstream_head("GET / HTTP/1.1\r\nHost: a\r\ntraceparent: garbage\r\ntracestate: a=b\r\n\r\n", ctx);
  EXPECT_EQ(head.find("tracestate"), std::string::npos) << head;
  EXPECT_EQ(head.find("garbage"), std::string::npos) << head;
}

TEST(HeaderRewriter, TraceHeadersPassUntouchedWithTracingOff) {
  const std::string head = upstream_head("GET / HTTP/1.1\r\nHost: a\r\ntraceparent: x\r\nb3: 1\r\n\r\n");
  EXPECT_NE(head.find("traceparent: x\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("b3: 1\r\n"), std::string::npos) << head;
}

TEST(HeaderRewriter, MaxForwardsOnOptionsAndTraceLosesOneHop) {
  EXPECT_NE(upstream_head("OPTIONS /a HTTP/1.1\r\nHost: a\r\nMax-Forwards: 3\r\n\r\n").find("Max-Forwards: 2\r\n"),
            std::string::npos);
  const std::string trace = upstream_head("TRACE /a HTTP/1.1\r\nHost: a\r\nMax-Forwards: 1\r\n\r\n");
  EXPECT_NE(trace.find("Max-Forwards: 0\r\n"), std::string::npos) << trace;
  EXPECT_EQ(trace.find("Max-Forwards: 1"), std::string::npos) << trace;
  // Other methods carry it unchanged.
  EXPECT_NE(upstream_head("GET /a HTTP/1.1\r\nHost: a\r\nMax-Forwards: 3\r\n\r\n").find("Max-Forwards: 3\r\n"),
            std::string::npos);
}

std::string final_recipient_reply(std::string_view text, bool keep_alive = true) {
  static char buffer[8192];
  HeadWriter writer(buffer, sizeof buffer);
  write_final_recipient_reply(request(text), keep_alive, writer);
  EXPECT_FALSE(writer.overflowed());
  return std::string(writer.view());
}

TEST(HeaderRewriter, OptionsAtZeroHopsIsAnsweredWithAllow) {
  EXPECT_EQ(final_recipient_reply("OPTIONS * HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n", false),
            "HTTP/1.1 200 OK\r\nAllow: GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n");
}

TEST(HeaderRewriter, TraceAtZeroHopsEchoesTheRequestWithoutCredentials) {
  // Standard credential fields and custom ones named like credentials stay out of the echo.
  const std::string reply = final_recipient_reply(
      "TRACE /x?y HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\nCookie: s=1\r\nAuthorization: Basic eA==\r\n"
      "Proxy-Authorization: Basic eQ==\r\nX-Debug: on\r\nX-API-Key: k1\r\nX-Auth-Token: t1\r\n"
      "X-Session-Id: s1\r\nX-CSRF-Token: c1\r\nX-Amz-Security-Token: a1\r\nX-Client-Secret: z1\r\n\r\n");
  const std::string echo = "TRACE /x?y HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\nX-Debug: on\r\n\r\n";
  EXPECT_EQ(reply, "HTTP/1.1 200 OK\r\nContent-Type: message/http\r\nContent-Length: " + std::to_string(echo.size()) +
                       "\r\n\r\n" + echo);
}

}  // namespace
}  // namespace apimeter
