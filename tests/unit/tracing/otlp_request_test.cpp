// OTLP/HTTP bodies: the Resource, the ExportTraceServiceRequest wrapped around framed spans (SpanFrames),
// the collector's partial-success count, and the Retry-After header of its throttling replies.
#include "tracing/otlp_request.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "proto_test_support.hpp"
#include "tracing/otlp_http_client.hpp"
#include "tracing/protobuf_writer.hpp"

namespace apimeter::tracing {
namespace {

using namespace std::chrono_literals;
using testing::attributes;
using testing::Message;

// A small Span message whose name is `name`, as the workers would have encoded it.
std::string span_named(const std::string& name) {
  std::string out(name.size() + 64, '\0');
  ProtoWriter w(out.data(), out.size());
  const std::uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  w.bytes(1, id, sizeof id);
  w.string(5, name);
  w.varint(6, 2);
  out.resize(w.size());
  return out;
}

std::string frame(std::string_view span) {
  std::string out;
  const auto n = static_cast<std::uint32_t>(span.size());
  for (int i = 0; i < 4; ++i) out += static_cast<char>(n >> (8 * i) & 0xff);
  out += span;
  return out;
}

// Three spans of different sizes: their length prefixes take one, two and three bytes.
struct ThreeSpans {
  std::vector<std::string> spans{span_named("short"), span_named(std::string(300, 'm')),
                                 span_named(std::string(20'000, 'l'))};
  std::string framed = frame(spans[0]) + frame(spans[1]) + frame(spans[2]);
};

const KeyValues kResource{
    {"service.name", "apimeter"}, {"service.instance.id", "host-1"}, {"telemetry.sdk.language", "cpp"}};

// ExportTraceServiceRequest -> the one ResourceSpans -> the one ScopeSpans (views into `body`, which the
// caller keeps).
struct Decoded {
  Message request, resource_spans, scope_spans;
};

Decoded decode_request(std::string_view body) {
  Decoded d;
  d.request = Message(body);
  EXPECT_TRUE(d.request.ok());
  EXPECT_EQ(d.request.count(1), 1u);
  d.resource_spans = d.request.sub(1);
  EXPECT_EQ(d.resource_spans.count(2), 1u);
  d.scope_spans = d.resource_spans.sub(2);
  return d;
}

TEST(EncodeResource, WritesEachPairAsAStringAttribute) {
  const std::string resource = encode_resource(kResource);
  const Message m(resource);
  ASSERT_TRUE(m.ok());
  const auto attrs = attributes(m, 1);
  ASSERT_EQ(attrs.size(), 3u);
  EXPECT_EQ(attrs.at("service.name").string, "apimeter");
  EXPECT_EQ(attrs.at("service.instance.id").string, "host-1");
  EXPECT_EQ(attrs.at("telemetry.sdk.language").string, "cpp");
}

TEST(EncodeResource, LongValuesAreKeptWhole) {
  const KeyValues long_values{{"k", std::string(200, 'v')}, {std::string(20'000, 'k'), "v"}};
  const std::string resource = encode_resource(long_values);
  const Message m(resource);
  ASSERT_TRUE(m.ok());
  const auto attrs = attributes(m, 1);
  ASSERT_EQ(attrs.size(), 2u);
  EXPECT_EQ(attrs.at("k").string, std::string(200, 'v'));
  EXPECT_EQ(attrs.at(std::string(20'000, 'k')).string, "v");
}

TEST(EncodeExportRequest, WrapsResourceScopeAndEverySpan) {
  const ThreeSpans three;
  const std::string resource = encode_resource(kResource);
  const std::string body = encode_export_request(resource, "0.1.0", three.framed, 3);
  const Decoded d = decode_request(body);

  EXPECT_EQ(d.resource_spans.bytes(1), resource);
  EXPECT_EQ(attributes(d.resource_spans.sub(1), 1).at("service.name").string, "apimeter");

  const Message scope = d.scope_spans.sub(1);
  EXPECT_EQ(scope.bytes(1), "apimeter");
  EXPECT_EQ(scope.bytes(2), "0.1.0");

  const std::vector<const testing::Field*> spans = d.scope_spans.all(2);
  ASSERT_EQ(spans.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(spans[i]->bytes, three.spans[i]) << "span " << i;
  EXPECT_EQ(Message(spans[1]->bytes).bytes(5), std::string(300, 'm'));
}

TEST(EncodeExportRequest, TakesOnlyTheFirstCountFrames) {
  const ThreeSpans three;
  const std::string resource = encode_resource(kResource);
  const std::string body_two = encode_export_request(resource, "0.1.0", three.framed, 2);
  const Decoded two = decode_request(body_two);
  const auto spans = two.scope_spans.all(2);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0]->bytes, three.spans[0]);
  EXPECT_EQ(spans[1]->bytes, three.spans[1]);

  const std::string body_none = encode_export_request(resource, "0.1.0", three.framed, 0);
  const Decoded none = decode_request(body_none);
  EXPECT_EQ(none.scope_spans.count(2), 0u);
  EXPECT_EQ(none.scope_spans.sub(1).bytes(1), "apimeter");
}

TEST(EncodeExportRequest, CountLargerThanTheFramesTakesThemAll) {
  const ThreeSpans three;
  const std::string body = encode_export_request(encode_resource(kResource), "0.1.0", three.framed, 10);
  const Decoded d = decode_request(body);
  EXPECT_EQ(d.scope_spans.count(2), 3u);
}

TEST(EncodeExportRequest, StopsAtATruncatedFrame) {
  const ThreeSpans three;
  const std::string torn = three.framed + frame(span_named("torn")).substr(0, 9);
  const std::string body = encode_export_request(encode_resource(kResource), "0.1.0", torn, 4);
  const Decoded d = decode_request(body);
  EXPECT_EQ(d.scope_spans.count(2), 3u);
}

TEST(EncodeExportRequest, ProtocDecodesTheRequest) {
  if (!testing::protoc_available()) GTEST_SKIP() << "no " << testing::kProtoc;
  const ThreeSpans three;
  const auto text =
      testing::protoc_decode_raw(encode_export_request(encode_resource(kResource), "0.1.0", three.framed, 3));
  ASSERT_TRUE(text.has_value());
  EXPECT_NE(text->find("1: \"service.name\""), std::string::npos) << *text;
  EXPECT_NE(text->find("1: \"apimeter\"\n"), std::string::npos) << *text;
  EXPECT_NE(text->find("5: \"short\""), std::string::npos) << *text;
  EXPECT_NE(text->find("2: \"0.1.0\""), std::string::npos) << *text;
}

TEST(SpanFrames, ReturnsEachFrameAndCountsConsumedBytes) {
  const ThreeSpans three;
  SpanFrames frames(three.framed);
  std::string_view span;
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(frames.next(span)) << i;
    EXPECT_EQ(span, three.spans[i]);
  }
  EXPECT_FALSE(frames.next(span));
  EXPECT_EQ(frames.consumed(), three.framed.size());
}

TEST(SpanFrames, StopsAtATruncatedFrameOrHeader) {
  const std::string first = frame(span_named("one"));
  const std::string second = frame(span_named("two"));
  for (std::size_t cut = 1; cut < second.size(); ++cut) {
    const std::string framed = first + second.substr(0, cut);
    SpanFrames frames(framed);
    std::string_view span;
    ASSERT_TRUE(frames.next(span));
    EXPECT_FALSE(frames.next(span)) << "cut at " << cut;
    EXPECT_EQ(frames.consumed(), first.size());
  }
}

TEST(SpanFrames, EmptyFrameIsAFrame) {
  const std::string framed = frame("") + frame("x");
  SpanFrames frames(framed);
  std::string_view span = "unset";
  ASSERT_TRUE(frames.next(span));
  EXPECT_TRUE(span.empty());
  ASSERT_TRUE(frames.next(span));
  EXPECT_EQ(span, "x");
}

TEST(SpanFrames, HugeLengthIsNotReadPastTheEnd) {
  const std::string framed = std::string("\xff\xff\xff\xff", 4) + "abc";
  SpanFrames frames(framed);
  std::string_view span;
  EXPECT_FALSE(frames.next(span));
  EXPECT_EQ(frames.consumed(), 0u);
}

// --- rejected_spans --------------------------------------------------------------------------------

// ExportTraceServiceResponse{partial_success{rejected_spans: rejected, error_message: message}}.
std::string partial_success(std::uint64_t rejected, std::string_view message) {
  std::string out(64 + message.size(), '\0');
  ProtoWriter w(out.data(), out.size());
  const std::size_t partial = w.begin(1);
  w.varint(1, rejected);
  w.string(2, message);
  w.end(partial);
  out.resize(w.size());
  return out;
}

TEST(RejectedSpans, ReadsThePartialSuccessCount) {
  const std::string body = partial_success(7, "x");
  EXPECT_EQ(body, std::string("\x0a\x05\x08\x07\x12\x01x", 7));  // hand-checked wire bytes
  EXPECT_EQ(rejected_spans(body), 7);
  EXPECT_EQ(rejected_spans(partial_success(300, std::string(200, 'e'))), 300);
}

TEST(RejectedSpans, EmptyBodyMeansNoneRejected) {
  EXPECT_EQ(rejected_spans(""), 0);
  EXPECT_EQ(rejected_spans(std::string("\x0a\x00", 2)), 0);  // empty partial_success
}

TEST(RejectedSpans, UnknownFieldsAreSkipped) {
  std::string body = std::string("\x15\x01\x02\x03\x04", 5);  // field 2, fixed32
  body += std::string("\x19", 1) + std::string(8, '\x01');    // field 3, fixed64
  body += std::string("\x20\x96\x01", 3);                     // field 4, varint
  body += partial_success(7, "x");
  EXPECT_EQ(rejected_spans(body), 7);
}

TEST(RejectedSpans, GarbageOrTruncatedBodyGivesZero) {
  const std::string body = partial_success(7, "x");
  for (std::size_t cut = 1; cut < body.size(); ++cut)
    EXPECT_EQ(rejected_spans(body.substr(0, cut)), 0) << "cut at " << cut;
  EXPECT_EQ(rejected_spans("<html>Bad Gateway</html>"), 0);
  EXPECT_EQ(rejected_spans(std::string(12, '\xff')), 0);
  EXPECT_EQ(rejected_spans(std::string("\x0b\x08\x07", 3)), 0);  // group wire type
  EXPECT_EQ(rejected_spans(std::string("\x00\x07", 2)), 0);      // field number 0
}

TEST(RejectedSpans, NegativeCountGivesZero) {
  EXPECT_EQ(rejected_spans(partial_success(static_cast<std::uint64_t>(-5), "")), 0);
}

// --- parse_retry_after -----------------------------------------------------------------------------

// 1994-11-06 08:49:37 UTC, the example date of RFC 9110.
const std::chrono::system_clock::time_point kNow = std::chrono::system_clock::from_time_t(784111777);

TEST(ParseRetryAfter, DelaySecondsAreReadAsSeconds) {
  EXPECT_EQ(parse_retry_after("120", kNow), std::chrono::milliseconds(120s));
  EXPECT_EQ(parse_retry_after("0", kNow), std::chrono::milliseconds(0));
}

TEST(ParseRetryAfter, SurroundingSpacesAreIgnored) {
  EXPECT_EQ(parse_retry_after(" 3 ", kNow), std::chrono::milliseconds(3s));
}

TEST(ParseRetryAfter, HttpDateGivesTheTimeUntilIt) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", kNow), std::chrono::milliseconds(10s));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 09:49:37 GMT", kNow), std::chrono::milliseconds(1h));
}

TEST(ParseRetryAfter, PastDateMeansRetryNow) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:27 GMT", kNow), std::chrono::milliseconds(0));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kNow), std::chrono::milliseconds(0));
}

TEST(ParseRetryAfter, LongDelaysAreCappedAtADay) {
  EXPECT_EQ(parse_retry_after("9999999", kNow), std::chrono::milliseconds(24h));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 2044 08:49:37 GMT", kNow), std::chrono::milliseconds(24h));
}

TEST(ParseRetryAfter, AnythingElseIsNotAValue) {
  for (std::string_view bad : {"soon", "", "   ", "-1", "1.5", "12s", "Sun, 06 Nov 1994 08:49:47",
                               "Sun, 06 Nov 1994 08:49:47 GMT trailing"})
    EXPECT_FALSE(parse_retry_after(bad, kNow).has_value()) << bad;
  EXPECT_FALSE(parse_retry_after(std::string(100, 'x'), kNow).has_value());
}

}  // namespace
}  // namespace apimeter::tracing
