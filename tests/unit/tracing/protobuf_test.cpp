// ProtoWriter's wire format (varints, fixed, strings, nested messages with patched lengths, overflow) and
// the OTLP spans encode_spans builds from a request record, decoded field by field (and by protoc).
#include "tracing/protobuf_writer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/request_record.hpp"
#include "proto_test_support.hpp"
#include "tracing/span_encoder.hpp"

namespace apimeter::tracing {
namespace {

using namespace std::chrono_literals;
using testing::AnyValue;
using testing::attributes;
using testing::bytes_of;
using testing::Message;
using testing::split_frames;

std::string hex(std::string_view bytes) {
  constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    const auto b = static_cast<std::uint8_t>(c);
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

// --- ProtoWriter -----------------------------------------------------------------------------------

TEST(ProtoWriter, VarintsUseSevenBitGroupsLowFirst) {
  char buffer[64];
  ProtoWriter w(buffer, sizeof buffer);
  w.varint(1, 150);
  w.varint(2, 0);
  w.varint(3, 127);
  w.varint(4, 128);
  ASSERT_FALSE(w.overflowed());
  EXPECT_EQ(hex(w.view()),
            "089601"
            "1000"
            "187f"
            "208001");
}

TEST(ProtoWriter, LargestVarintAndNegativeInt64TakeTenBytes) {
  char buffer[64];
  ProtoWriter w(buffer, sizeof buffer);
  w.varint(1, UINT64_MAX);
  w.int64(2, -1);
  ASSERT_FALSE(w.overflowed());
  EXPECT_EQ(hex(w.view()),
            "08ffffffffffffffffff01"
            "10ffffffffffffffffff01");
  EXPECT_EQ(varint_size(UINT64_MAX), 10u);
  EXPECT_EQ(varint_size(16383), 2u);
  EXPECT_EQ(varint_size(16384), 3u);
}

TEST(ProtoWriter, FixedFieldsAreLittleEndian) {
  char buffer[64];
  ProtoWriter w(buffer, sizeof buffer);
  w.fixed64(7, 0x0102030405060708ULL);
  w.fixed32(16, 0x0a0b0c0d);  // field 16 needs a two-byte tag
  ASSERT_FALSE(w.overflowed());
  EXPECT_EQ(hex(w.view()),
            "390807060504030201"
            "85010d0c0b0a");
}

TEST(ProtoWriter, StringsAndBytesAreLengthDelimited) {
  char buffer[64];
  ProtoWriter w(buffer, sizeof buffer);
  w.string(2, "testing");
  w.string(3, "");
  const std::uint8_t raw[] = {0x00, 0xff};
  w.bytes(4, raw, sizeof raw);
  ASSERT_FALSE(w.overflowed());
  EXPECT_EQ(hex(w.view()),
            "120774657374696e67"
            "1a00"
            "220200ff");
}

TEST(ProtoWriter, ShortNestedMessageKeepsItsOneByteLength) {
  char buffer[64];
  ProtoWriter w(buffer, sizeof buffer);
  const std::size_t mark = w.begin(3);
  w.varint(1, 150);
  w.end(mark);
  w.varint(4, 1);
  ASSERT_FALSE(w.overflowed());
  EXPECT_EQ(hex(w.view()),
            "1a03089601"
            "2001");
}

TEST(ProtoWriter, EmptyNestedMessageHasLengthZero) {
  char buffer[8];
  ProtoWriter w(buffer, sizeof buffer);
  w.end(w.begin(5));
  ASSERT_FALSE(w.overflowed());
  EXPECT_EQ(hex(w.view()), "2a00");
}

// A nested message holding one string of `content` bytes, followed by a sibling field.
void expect_nested_round_trip(std::size_t content, std::size_t length_bytes) {
  const std::string payload(content, 'x');
  std::vector<char> buffer(content + 64);
  ProtoWriter w(buffer.data(), buffer.size());
  const std::size_t mark = w.begin(1);
  w.string(2, payload);
  w.end(mark);
  w.varint(3, 99);
  ASSERT_FALSE(w.overflowed());
  const std::size_t inner = 1 + varint_size(content) + content;
  EXPECT_EQ(varint_size(inner), length_bytes);
  EXPECT_EQ(w.size(), 1 + length_bytes + inner + 2);

  const Message outer(w.view());
  ASSERT_TRUE(outer.ok());
  ASSERT_EQ(outer.fields().size(), 2u);
  const Message nested = outer.sub(1);
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested.bytes(2), payload);
  EXPECT_EQ(outer.value(3, 0), 99u);
}

TEST(ProtoWriter, NestedMessageLongerThan127BytesGetsATwoByteLength) {
  expect_nested_round_trip(200, 2);
}

TEST(ProtoWriter, NestedMessageLongerThan16383BytesGetsAThreeByteLength) {
  expect_nested_round_trip(20'000, 3);
}

TEST(ProtoWriter, NestedMessagesInsideLongNestedMessagesArePatchedInnermostFirst) {
  std::vector<char> buffer(4096);
  ProtoWriter w(buffer.data(), buffer.size());
  const std::size_t outer = w.begin(1);
  w.string(1, std::string(300, 'a'));
  const std::size_t inner = w.begin(2);
  w.string(1, std::string(150, 'b'));
  w.varint(2, 7);
  w.end(inner);
  w.string(3, "after");
  w.end(outer);
  w.varint(2, 5);
  ASSERT_FALSE(w.overflowed());

  const Message top(w.view());
  ASSERT_TRUE(top.ok());
  const Message o = top.sub(1);
  EXPECT_EQ(o.bytes(1), std::string(300, 'a'));
  EXPECT_EQ(o.bytes(3), "after");
  const Message i = o.sub(2);
  EXPECT_EQ(i.bytes(1), std::string(150, 'b'));
  EXPECT_EQ(i.value(2, 0), 7u);
  EXPECT_EQ(top.value(2, 0), 5u);
}

TEST(ProtoWriter, WritingPastCapacitySetsOverflowedAndStops) {
  char buffer[16];
  ProtoWriter w(buffer, sizeof buffer);
  w.string(1, "0123456789");
  EXPECT_FALSE(w.overflowed());
  const std::size_t before = w.size();
  w.string(2, "this does not fit");
  EXPECT_TRUE(w.overflowed());
  EXPECT_LE(w.size(), sizeof buffer);
  w.varint(3, 1);  // overflow is sticky: nothing more is written, even what would fit
  EXPECT_TRUE(w.overflowed());
  EXPECT_LE(w.size(), sizeof buffer);
  EXPECT_GE(w.size(), before);
}

TEST(ProtoWriter, LengthThatNeedsAnExtraByteAtTheEndOfTheBufferOverflows) {
  // begin (2 bytes) + a 128-byte nested body (tag, length, 126 bytes) = 130 bytes with a one-byte length;
  // the real length needs two bytes.
  const std::string content(126, 'z');
  {
    char buffer[130];
    ProtoWriter w(buffer, sizeof buffer);
    const std::size_t mark = w.begin(1);
    w.string(1, content);
    ASSERT_FALSE(w.overflowed());
    w.end(mark);
    EXPECT_TRUE(w.overflowed());
  }
  {
    char buffer[131];
    ProtoWriter w(buffer, sizeof buffer);
    const std::size_t mark = w.begin(1);
    w.string(1, content);
    w.end(mark);
    ASSERT_FALSE(w.overflowed());
    EXPECT_EQ(w.size(), 131u);
    const Message m(w.view());
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m.sub(1).bytes(1), content);
  }
}

// --- encode_spans ----------------------------------------------------------------------------------

// opentelemetry.proto.trace.v1.Span field numbers.
constexpr std::uint32_t kTraceId = 1, kSpanId = 2, kTraceState = 3, kParentSpanId = 4, kName = 5, kKind = 6,
                        kStart = 7, kEnd = 8, kAttributes = 9, kEvents = 11, kStatus = 15, kFlags = 16;
constexpr int kVarint = 0, kFixed64 = 1, kFixed32 = 5;

constexpr TraceId kTrace{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                         0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
constexpr SpanId kServerSpan{1, 2, 3, 4, 5, 6, 7, 8};
constexpr SpanId kClientSpan{9, 10, 11, 12, 13, 14, 15, 16};
constexpr SpanId kParentSpan{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
constexpr std::uint64_t kWallStartNanos = 1'700'000'000'000'000'000ULL;
constexpr std::uint64_t kMs = 1'000'000;

const Clock::time_point kT0 = Clock::time_point{} + 24h;

RequestRecord filled_record() {
  RequestRecord r;
  r.head_started = kT0;
  r.head_read = kT0 + 100us;
  r.upstream_started = kT0 + 200us;
  r.upstream_connected = kT0 + 1ms;
  r.upstream_first_byte = kT0 + 5ms;
  r.upstream_done = kT0 + 7ms;
  r.done = kT0 + 8ms;
  r.wall_start = std::chrono::system_clock::time_point{} +
                 std::chrono::duration_cast<std::chrono::system_clock::duration>(
                     std::chrono::nanoseconds(kWallStartNanos));
  r.method = "GET";
  r.target = "/api/orders/17?expand=items&token=s3cret";
  r.path = "/api/orders/17";
  r.host = "shop.example:8443";
  r.listen_port = 8080;
  r.client_address = "10.1.2.3";
  r.client_port = 51234;
  r.user_agent = "curl/8.4.0";
  r.status = 200;
  r.request_body_bytes = 12;
  r.response_body_bytes = 3456;
  r.upstream_address = "127.0.0.1:9000";
  r.upstream_status = 200;
  r.trace.trace_id = kTrace;
  r.trace.server_span_id = kServerSpan;
  r.trace.client_span_id = kClientSpan;
  r.trace.parent_span_id = kParentSpan;
  r.trace.parent = ParentFormat::w3c;
  r.trace.tracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
  r.trace.active = true;
  r.trace.sampled = true;
  return r;
}

const SpanInputs kInputs{"/api/orders/{id}", "user-42"};

// encode_spans into a kSpanScratchBytes buffer; `frames` view `bytes`, so an Encoded is never copied.
struct Encoded {
  Encoded(const RequestRecord& r, const TracingSettings& settings, const SpanInputs& inputs) {
    bytes.resize(kSpanScratchBytes);
    const std::size_t n = encode_spans(r, settings, inputs, bytes.data(), bytes.size(), span_count);
    bytes.resize(n);
    frames = split_frames(bytes);
  }
  Encoded(const Encoded&) = delete;
  Encoded& operator=(const Encoded&) = delete;

  std::string bytes;
  std::size_t span_count = 0;
  std::vector<std::string_view> frames;
};

Encoded encode(const RequestRecord& r, const TracingSettings& settings = {},
               const SpanInputs& inputs = kInputs) {
  return Encoded(r, settings, inputs);  // guaranteed elision: the views stay valid
}

std::string string_attribute(const std::map<std::string, AnyValue>& attrs, const std::string& key) {
  const auto it = attrs.find(key);
  if (it == attrs.end() || !it->second.string) {
    ADD_FAILURE() << "no string attribute " << key;
    return {};
  }
  return *it->second.string;
}

std::int64_t int_attribute(const std::map<std::string, AnyValue>& attrs, const std::string& key) {
  const auto it = attrs.find(key);
  if (it == attrs.end() || !it->second.integer) {
    ADD_FAILURE() << "no int attribute " << key;
    return -1;
  }
  return *it->second.integer;
}

TEST(EncodeSpans, FilledRecordGivesAServerAndAClientSpan) {
  const Encoded e = encode(filled_record());
  EXPECT_EQ(e.span_count, 2u);
  ASSERT_EQ(e.frames.size(), 2u);
  EXPECT_TRUE(Message(e.frames[0]).ok());
  EXPECT_TRUE(Message(e.frames[1]).ok());
}

TEST(EncodeSpans, ServerSpanCarriesIdsNameKindAndTimes) {
  const Encoded e = encode(filled_record());
  ASSERT_EQ(e.frames.size(), 2u);
  const Message span(e.frames[0]);
  EXPECT_EQ(span.bytes(kTraceId), bytes_of(kTrace));
  EXPECT_EQ(span.bytes(kSpanId), bytes_of(kServerSpan));
  EXPECT_EQ(span.bytes(kParentSpanId), bytes_of(kParentSpan));
  EXPECT_EQ(span.bytes(kTraceState), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(span.bytes(kName), "GET /api/orders/{id}");
  EXPECT_EQ(span.value(kKind, kVarint), 2u);
  const std::uint64_t start = span.value(kStart, kFixed64);
  const std::uint64_t end = span.value(kEnd, kFixed64);
  EXPECT_EQ(start, kWallStartNanos);
  EXPECT_EQ(end, kWallStartNanos + 8 * kMs);
  EXPECT_LE(start, end);
  // Sampled, with a remote parent.
  EXPECT_EQ(span.value(kFlags, kFixed32), 0x301u);
  EXPECT_FALSE(span.has(kStatus));
  EXPECT_FALSE(span.has(kEvents));
}

TEST(EncodeSpans, ServerSpanAttributesFollowHttpSemanticConventions) {
  const Encoded e = encode(filled_record());
  ASSERT_EQ(e.frames.size(), 2u);
  const auto attrs = attributes(Message(e.frames[0]), kAttributes);
  EXPECT_EQ(string_attribute(attrs, "http.request.method"), "GET");
  EXPECT_EQ(string_attribute(attrs, "url.path"), "/api/orders/17");
  EXPECT_EQ(string_attribute(attrs, "url.scheme"), "http");
  EXPECT_EQ(string_attribute(attrs, "http.route"), "/api/orders/{id}");
  EXPECT_EQ(int_attribute(attrs, "http.response.status_code"), 200);
  EXPECT_EQ(string_attribute(attrs, "server.address"), "shop.example");
  EXPECT_EQ(int_attribute(attrs, "server.port"), 8443);
  EXPECT_EQ(string_attribute(attrs, "client.address"), "10.1.2.3");
  EXPECT_EQ(int_attribute(attrs, "client.port"), 51234);
  EXPECT_EQ(string_attribute(attrs, "user_agent.original"), "curl/8.4.0");
  EXPECT_EQ(string_attribute(attrs, "network.protocol.version"), "1.1");
  EXPECT_EQ(int_attribute(attrs, "http.request.body.size"), 12);
  EXPECT_EQ(int_attribute(attrs, "http.response.body.size"), 3456);
  EXPECT_EQ(string_attribute(attrs, "user.id"), "user-42");
  EXPECT_EQ(attrs.count("url.query"), 0u);
  EXPECT_EQ(attrs.count("error.type"), 0u);
  EXPECT_EQ(attrs.count("http.request.method_original"), 0u);
}

TEST(EncodeSpans, ServerPortFallsBackToTheListenPortWhenHostHasNone) {
  RequestRecord r = filled_record();
  r.host = "shop.example";
  r.version = HttpVersion::http1_0;
  const Encoded e = encode(r);
  ASSERT_GE(e.frames.size(), 1u);
  const auto attrs = attributes(Message(e.frames[0]), kAttributes);
  EXPECT_EQ(string_attribute(attrs, "server.address"), "shop.example");
  EXPECT_EQ(int_attribute(attrs, "server.port"), 8080);
  EXPECT_EQ(string_attribute(attrs, "network.protocol.version"), "1.0");
}

TEST(EncodeSpans, QueryIsCapturedOnlyWhenAskedFor) {
  TracingSettings settings;
  settings.capture_query = true;
  const Encoded e = encode(filled_record(), settings);
  ASSERT_EQ(e.frames.size(), 2u);
  EXPECT_EQ(string_attribute(attributes(Message(e.frames[0]), kAttributes), "url.query"),
            "expand=items&token=s3cret");
  EXPECT_EQ(string_attribute(attributes(Message(e.frames[1]), kAttributes), "url.full"),
            "http://127.0.0.1:9000/api/orders/17?expand=items&token=s3cret");
}

TEST(EncodeSpans, ClientSpanIsTheServerSpansChildWithUpstreamAttributes) {
  const Encoded e = encode(filled_record());
  ASSERT_EQ(e.frames.size(), 2u);
  const Message span(e.frames[1]);
  EXPECT_EQ(span.bytes(kTraceId), bytes_of(kTrace));
  EXPECT_EQ(span.bytes(kSpanId), bytes_of(kClientSpan));
  EXPECT_EQ(span.bytes(kParentSpanId), bytes_of(kServerSpan));
  // The client's tracestate travels with the trace: the upstream receives it under this span's id.
  EXPECT_EQ(span.bytes(kTraceState), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(span.bytes(kName), "GET");
  EXPECT_EQ(span.value(kKind, kVarint), 3u);
  EXPECT_EQ(span.value(kStart, kFixed64), kWallStartNanos + 200'000);
  EXPECT_EQ(span.value(kEnd, kFixed64), kWallStartNanos + 7 * kMs);
  EXPECT_EQ(span.value(kFlags, kFixed32), 0x101u);  // sampled, parent known to be local
  EXPECT_FALSE(span.has(kStatus));

  const auto attrs = attributes(span, kAttributes);
  EXPECT_EQ(string_attribute(attrs, "http.request.method"), "GET");
  EXPECT_EQ(string_attribute(attrs, "url.full"), "http://127.0.0.1:9000/api/orders/17");
  EXPECT_EQ(string_attribute(attrs, "server.address"), "127.0.0.1");
  EXPECT_EQ(int_attribute(attrs, "server.port"), 9000);
  EXPECT_EQ(int_attribute(attrs, "http.response.status_code"), 200);
  ASSERT_EQ(attrs.count("apimeter.upstream.reused"), 1u);
  EXPECT_EQ(attrs.at("apimeter.upstream.reused").boolean, false);
}

TEST(EncodeSpans, ClientSpanHasConnectedAndFirstByteEvents) {
  const Encoded e = encode(filled_record());
  ASSERT_EQ(e.frames.size(), 2u);
  const std::vector<Message> events = Message(e.frames[1]).subs(kEvents);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].bytes(2), "upstream.connected");
  EXPECT_EQ(events[0].value(1, kFixed64), kWallStartNanos + 1 * kMs);
  EXPECT_EQ(events[1].bytes(2), "upstream.first_byte");
  EXPECT_EQ(events[1].value(1, kFixed64), kWallStartNanos + 5 * kMs);
}

TEST(EncodeSpans, RootSpanHasNoParentNoTracestateAndIsNotRemote) {
  RequestRecord r = filled_record();
  r.trace.parent = ParentFormat::none;
  r.trace.parent_span_id = {};
  r.trace.sampled = false;
  const Encoded e = encode(r);
  ASSERT_EQ(e.frames.size(), 2u);
  const Message span(e.frames[0]);
  EXPECT_FALSE(span.has(kParentSpanId));
  EXPECT_FALSE(span.has(kTraceState));
  EXPECT_EQ(span.value(kFlags, kFixed32), 0x100u);
}

TEST(EncodeSpans, ServerErrorSetsErrorStatusOnBothSpans) {
  RequestRecord r = filled_record();
  r.status = 503;
  r.upstream_status = 503;
  const Encoded e = encode(r);
  ASSERT_EQ(e.frames.size(), 2u);
  for (std::string_view frame : e.frames) {
    const Message span(frame);
    ASSERT_TRUE(span.has(kStatus));
    const Message status = span.sub(kStatus);
    EXPECT_EQ(status.value(3, kVarint), 2u);  // STATUS_CODE_ERROR
    EXPECT_EQ(status.bytes(2), "503");
    EXPECT_EQ(string_attribute(attributes(span, kAttributes), "error.type"), "503");
  }
}

TEST(EncodeSpans, UpstreamRefusedWithoutResponseIsAnError) {
  RequestRecord r = filled_record();
  r.status = 0;
  r.upstream_status = 0;
  r.error_type = "upstream_refused";
  r.upstream_connected = {};
  r.upstream_first_byte = {};
  r.upstream_done = {};
  const Encoded e = encode(r);
  ASSERT_EQ(e.frames.size(), 2u);  // the connect was attempted: the client span shows it
  const Message server(e.frames[0]);
  ASSERT_TRUE(server.has(kStatus));
  EXPECT_EQ(server.sub(kStatus).value(3, kVarint), 2u);
  EXPECT_EQ(server.sub(kStatus).bytes(2), "upstream_refused");
  const auto attrs = attributes(server, kAttributes);
  EXPECT_EQ(string_attribute(attrs, "error.type"), "upstream_refused");
  EXPECT_EQ(attrs.count("http.response.status_code"), 0u);

  const Message client(e.frames[1]);
  ASSERT_TRUE(client.has(kStatus));
  EXPECT_EQ(client.sub(kStatus).value(3, kVarint), 2u);
  EXPECT_FALSE(client.has(kEvents));
  EXPECT_EQ(client.value(kEnd, kFixed64), kWallStartNanos + 8 * kMs);  // ends with the exchange
}

TEST(EncodeSpans, ClientErrorLeavesTheStatusUnset) {
  RequestRecord r = filled_record();
  r.status = 404;
  r.upstream_status = 404;
  const Encoded e = encode(r);
  ASSERT_EQ(e.frames.size(), 2u);
  for (std::string_view frame : e.frames) {
    const Message span(frame);
    EXPECT_FALSE(span.has(kStatus));
    const auto attrs = attributes(span, kAttributes);
    EXPECT_EQ(int_attribute(attrs, "http.response.status_code"), 404);
    EXPECT_EQ(attrs.count("error.type"), 0u);
  }
}

TEST(EncodeSpans, NonStandardMethodIsNamedHttpAndReportedAsOther) {
  RequestRecord r = filled_record();
  r.method = "FOO";
  const Encoded e = encode(r, {}, SpanInputs{});
  ASSERT_EQ(e.frames.size(), 2u);
  for (std::string_view frame : e.frames) {
    const Message span(frame);
    EXPECT_EQ(span.bytes(kName), "HTTP");
    const auto attrs = attributes(span, kAttributes);
    EXPECT_EQ(string_attribute(attrs, "http.request.method"), "_OTHER");
    EXPECT_EQ(string_attribute(attrs, "http.request.method_original"), "FOO");
  }
  const Encoded routed = encode(r);
  ASSERT_GE(routed.frames.size(), 1u);
  EXPECT_EQ(Message(routed.frames[0]).bytes(kName), "HTTP /api/orders/{id}");
}

TEST(EncodeSpans, NoRouteGivesTheMethodAloneAndNoRouteAttribute) {
  const Encoded e = encode(filled_record(), {}, SpanInputs{});
  ASSERT_GE(e.frames.size(), 1u);
  const Message span(e.frames[0]);
  EXPECT_EQ(span.bytes(kName), "GET");
  const auto attrs = attributes(span, kAttributes);
  EXPECT_EQ(attrs.count("http.route"), 0u);
  EXPECT_EQ(attrs.count("user.id"), 0u);
}

TEST(EncodeSpans, NoClientSpanWhenTheUpstreamWasNeverReached) {
  RequestRecord r = filled_record();
  r.status = 400;
  r.upstream_started = {};
  r.upstream_connected = {};
  r.upstream_first_byte = {};
  r.upstream_done = {};
  r.upstream_address = {};
  r.upstream_status = 0;
  const Encoded e = encode(r);
  EXPECT_EQ(e.span_count, 1u);
  ASSERT_EQ(e.frames.size(), 1u);
  EXPECT_EQ(Message(e.frames[0]).value(kKind, kVarint), 2u);

  // An address without any upstream time point is not enough either.
  r.upstream_address = "127.0.0.1:9000";
  EXPECT_EQ(encode(r).span_count, 1u);
}

TEST(EncodeSpans, HundredKilobytePathIsCutAndStillEncodes) {
  RequestRecord r = filled_record();
  std::string path = "/";
  path += std::string(100 * 1024, 'p');
  r.path = path;
  r.target = path;
  const Encoded e = encode(r);
  EXPECT_EQ(e.span_count, 2u);
  ASSERT_EQ(e.frames.size(), 2u);
  const std::string url_path = string_attribute(attributes(Message(e.frames[0]), kAttributes), "url.path");
  EXPECT_EQ(url_path.size(), kMaxPathAttribute);
  EXPECT_EQ(url_path, path.substr(0, kMaxPathAttribute));
  const std::string url_full = string_attribute(attributes(Message(e.frames[1]), kAttributes), "url.full");
  EXPECT_EQ(url_full, "http://127.0.0.1:9000" + path.substr(0, kMaxPathAttribute));
}

TEST(EncodeSpans, TooSmallBufferGivesZeroSpans) {
  const RequestRecord r = filled_record();
  const Encoded full = encode(r);
  ASSERT_EQ(full.frames.size(), 2u);
  std::string out(full.frames[0].size() + 4, '\0');  // room for the server span only
  std::size_t count = 99;
  EXPECT_EQ(encode_spans(r, {}, kInputs, out.data(), out.size(), count), 0u);
  EXPECT_EQ(count, 0u);
  char tiny[32];
  EXPECT_EQ(encode_spans(r, {}, kInputs, tiny, sizeof tiny, count), 0u);
  EXPECT_EQ(count, 0u);
}

// protoc, an independent decoder, reads the same bytes the same way.
TEST(EncodeSpans, ProtocDecodesTheSpans) {
  if (!testing::protoc_available()) GTEST_SKIP() << "no " << testing::kProtoc;
  const Encoded e = encode(filled_record());
  ASSERT_EQ(e.frames.size(), 2u);
  const auto server = testing::protoc_decode_raw(e.frames[0]);
  ASSERT_TRUE(server.has_value());
  EXPECT_NE(server->find("5: \"GET /api/orders/{id}\""), std::string::npos) << *server;
  EXPECT_NE(server->find("6: 2\n"), std::string::npos) << *server;
  EXPECT_NE(server->find("1: \"http.request.method\""), std::string::npos) << *server;
  EXPECT_NE(server->find("1: \"shop.example\""), std::string::npos) << *server;
  EXPECT_NE(server->find("3: 8443\n"), std::string::npos) << *server;
  EXPECT_NE(server->find("16: 0x00000301"), std::string::npos) << *server;
  const auto client = testing::protoc_decode_raw(e.frames[1]);
  ASSERT_TRUE(client.has_value());
  EXPECT_NE(client->find("6: 3\n"), std::string::npos) << *client;
  EXPECT_NE(client->find("\"http://127.0.0.1:9000/api/orders/17\""), std::string::npos) << *client;
  // decode_raw guesses: "upstream.first_byte" happens to parse as a message, so only the other name is
  // looked for, and the events are counted.
  EXPECT_NE(client->find("2: \"upstream.connected\""), std::string::npos) << *client;
  std::size_t events = 0;
  for (std::size_t at = client->find("\n11 {\n"); at != std::string::npos;
       at = client->find("\n11 {\n", at + 1))
    ++events;
  EXPECT_EQ(events, 2u) << *client;
}

}  // namespace
}  // namespace apimeter::tracing
