// Reading W3C traceparent/tracestate and B3 (single and multi) from untrusted headers, the precedence
// between them, and writing traceparent/b3 so that what we send parses back to the same context.
#include "tracing/trace_propagation.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>

namespace apimeter::tracing {
namespace {

constexpr std::string_view kTraceHex = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kSpanHex = "00f067aa0ba902b7";
constexpr TraceId kTraceId{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                           0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
constexpr SpanId kSpanId{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};

std::string traceparent(std::string_view version, std::string_view trace, std::string_view span,
                        std::string_view flags) {
  return std::string(version) + "-" + std::string(trace) + "-" + std::string(span) + "-" + std::string(flags);
}

ParentContext parsed_traceparent(std::string_view text, bool& ok) {
  ParentContext out;
  ok = parse_traceparent(text, out);
  return out;
}

bool traceparent_valid(std::string_view text) {
  ParentContext out;
  return parse_traceparent(text, out);
}

bool b3_single_valid(std::string_view text) {
  ParentContext out;
  return parse_b3_single(text, out);
}

IncomingTraceHeaders with_traceparent(std::string_view value) {
  IncomingTraceHeaders h;
  h.traceparent = value;
  h.traceparent_count = 1;
  return h;
}

// --- W3C traceparent -------------------------------------------------------------------------------

TEST(Traceparent, SampledHeaderGivesIdsAndSampledDecision) {
  bool ok = false;
  const ParentContext p = parsed_traceparent(traceparent("00", kTraceHex, kSpanHex, "01"), ok);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(p.has_ids);
  EXPECT_EQ(p.trace_id, kTraceId);
  EXPECT_EQ(p.span_id, kSpanId);
  EXPECT_EQ(p.decision, ParentDecision::sampled);
  EXPECT_EQ(p.format, ParentFormat::w3c);
}

TEST(Traceparent, UnsampledHeaderGivesNotSampledDecision) {
  bool ok = false;
  const ParentContext p = parsed_traceparent(traceparent("00", kTraceHex, kSpanHex, "00"), ok);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(p.has_ids);
  EXPECT_EQ(p.decision, ParentDecision::not_sampled);
}

TEST(Traceparent, OnlyTheSampledBitOfTheFlagsDecides) {
  bool ok = false;
  EXPECT_EQ(parsed_traceparent(traceparent("00", kTraceHex, kSpanHex, "03"), ok).decision,
            ParentDecision::sampled);
  EXPECT_TRUE(ok);
  EXPECT_EQ(parsed_traceparent(traceparent("00", kTraceHex, kSpanHex, "02"), ok).decision,
            ParentDecision::not_sampled);
  EXPECT_TRUE(ok);
}

TEST(Traceparent, UppercaseHexIsRejected) {
  EXPECT_FALSE(traceparent_valid(traceparent("00", "4BF92F3577B34DA6A3CE929D0E0E4736", kSpanHex, "01")));
  EXPECT_FALSE(traceparent_valid(traceparent("00", kTraceHex, "00F067AA0BA902B7", "01")));
  EXPECT_FALSE(traceparent_valid(traceparent("00", kTraceHex, kSpanHex, "0A")));
  EXPECT_FALSE(traceparent_valid(traceparent("0A", kTraceHex, kSpanHex, "01")));
}

TEST(Traceparent, VersionFfIsRejected) {
  EXPECT_FALSE(traceparent_valid(traceparent("ff", kTraceHex, kSpanHex, "01")));
}

TEST(Traceparent, Version00WithExtraCharactersIsRejected) {
  EXPECT_FALSE(traceparent_valid(traceparent("00", kTraceHex, kSpanHex, "01") + "-extra"));
  EXPECT_FALSE(traceparent_valid(traceparent("00", kTraceHex, kSpanHex, "01") + "x"));
}

TEST(Traceparent, FutureVersionWithDashSuffixIsAccepted) {
  bool ok = false;
  const ParentContext p =
      parsed_traceparent(traceparent("cc", kTraceHex, kSpanHex, "01") + "-what-the-future-holds", ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(p.trace_id, kTraceId);
  EXPECT_EQ(p.span_id, kSpanId);
  EXPECT_EQ(p.decision, ParentDecision::sampled);
  // A future version exactly as long as version 00 is fine too.
  EXPECT_TRUE(traceparent_valid(traceparent("01", kTraceHex, kSpanHex, "00")));
}

TEST(Traceparent, FutureVersionWithSuffixNotStartingWithDashIsRejected) {
  EXPECT_FALSE(traceparent_valid(traceparent("cc", kTraceHex, kSpanHex, "01") + "xyz"));
}

TEST(Traceparent, AllZeroTraceIdOrSpanIdIsRejected) {
  EXPECT_FALSE(traceparent_valid(traceparent("00", std::string(32, '0'), kSpanHex, "01")));
  EXPECT_FALSE(traceparent_valid(traceparent("00", kTraceHex, std::string(16, '0'), "01")));
}

TEST(Traceparent, WrongDashesOrLengthsAreRejected) {
  const std::string good = traceparent("00", kTraceHex, kSpanHex, "01");
  ASSERT_TRUE(traceparent_valid(good));
  for (std::size_t dash : {2u, 35u, 52u}) {
    std::string bad = good;
    bad[dash] = '_';
    EXPECT_FALSE(traceparent_valid(bad)) << bad;
  }
  EXPECT_FALSE(traceparent_valid(good.substr(0, good.size() - 1)));
  EXPECT_FALSE(traceparent_valid(""));
  // Same total length, but the fields shifted: a 31-digit trace id and a 17-digit span id.
  EXPECT_FALSE(traceparent_valid(traceparent("00", kTraceHex.substr(1), std::string(kSpanHex) + "a", "01")));
  EXPECT_FALSE(traceparent_valid(traceparent("00", kTraceHex, kSpanHex, "1")));
  EXPECT_FALSE(traceparent_valid(" " + good.substr(1)));
}

TEST(ExtractParent, RepeatedTraceparentIsIgnored) {
  const std::string tp = traceparent("00", kTraceHex, kSpanHex, "01");
  IncomingTraceHeaders h = with_traceparent(tp);
  h.traceparent_count = 2;
  const ParentContext p = extract_parent(h);
  EXPECT_FALSE(p.has_ids);
  EXPECT_EQ(p.decision, ParentDecision::none);
  EXPECT_EQ(p.format, ParentFormat::none);
}

TEST(ExtractParent, TracestateIsKeptWithAValidTraceparent) {
  const std::string tp = traceparent("00", kTraceHex, kSpanHex, "01");
  IncomingTraceHeaders h = with_traceparent(tp);
  h.tracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
  const ParentContext p = extract_parent(h);
  EXPECT_EQ(p.format, ParentFormat::w3c);
  EXPECT_EQ(p.tracestate, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
}

TEST(ExtractParent, TracestateIsDroppedWithoutAValidTraceparent) {
  IncomingTraceHeaders h;
  h.tracestate = "rojo=00f067aa0ba902b7";
  EXPECT_TRUE(extract_parent(h).tracestate.empty());

  const std::string bad = traceparent("00", std::string(32, '0'), kSpanHex, "01");
  const std::string b3 = std::string(kTraceHex) + "-" + std::string(kSpanHex) + "-1";
  h = with_traceparent(bad);
  h.tracestate = "rojo=00f067aa0ba902b7";
  h.b3 = b3;
  const ParentContext p = extract_parent(h);
  EXPECT_EQ(p.format, ParentFormat::b3_single);
  EXPECT_TRUE(p.tracestate.empty());
}

// --- B3 single header ------------------------------------------------------------------------------

TEST(B3Single, ThirtyTwoHexTraceIdWithSampledState) {
  ParentContext p;
  ASSERT_TRUE(parse_b3_single(std::string(kTraceHex) + "-" + std::string(kSpanHex) + "-1", p));
  EXPECT_TRUE(p.has_ids);
  EXPECT_EQ(p.trace_id, kTraceId);
  EXPECT_EQ(p.span_id, kSpanId);
  EXPECT_EQ(p.decision, ParentDecision::sampled);
  EXPECT_EQ(p.format, ParentFormat::b3_single);
}

TEST(B3Single, SixteenHexTraceIdIsLeftPaddedIntoTheLowEightBytes) {
  ParentContext p;
  ASSERT_TRUE(parse_b3_single("a3ce929d0e0e4736-" + std::string(kSpanHex) + "-0", p));
  const TraceId expected{0, 0, 0, 0, 0, 0, 0, 0, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
  EXPECT_EQ(p.trace_id, expected);
  EXPECT_EQ(p.decision, ParentDecision::not_sampled);
}

TEST(B3Single, IdsWithoutSamplingStateDeferTheDecision) {
  ParentContext p;
  ASSERT_TRUE(parse_b3_single(std::string(kTraceHex) + "-" + std::string(kSpanHex), p));
  EXPECT_TRUE(p.has_ids);
  EXPECT_EQ(p.span_id, kSpanId);
  EXPECT_EQ(p.decision, ParentDecision::none);
}

TEST(B3Single, DebugStateMeansSampled) {
  ParentContext p;
  ASSERT_TRUE(parse_b3_single(std::string(kTraceHex) + "-" + std::string(kSpanHex) + "-d", p));
  EXPECT_EQ(p.decision, ParentDecision::sampled);
}

TEST(B3Single, LoneSamplingStateIsADecisionWithoutIds) {
  ParentContext zero, one, debug, other;
  ASSERT_TRUE(parse_b3_single("0", zero));
  ASSERT_TRUE(parse_b3_single("1", one));
  ASSERT_TRUE(parse_b3_single("d", debug));
  EXPECT_FALSE(parse_b3_single("x", other));
  EXPECT_EQ(zero.decision, ParentDecision::not_sampled);
  EXPECT_EQ(one.decision, ParentDecision::sampled);
  EXPECT_EQ(debug.decision, ParentDecision::sampled);
  EXPECT_FALSE(zero.has_ids);
  EXPECT_FALSE(one.has_ids);
}

TEST(B3Single, ParentSpanIdMustBeWellFormed) {
  const std::string ids = std::string(kTraceHex) + "-" + std::string(kSpanHex) + "-1-";
  EXPECT_TRUE(b3_single_valid(ids + "05e3ac9a4f6e3b90"));
  EXPECT_FALSE(b3_single_valid(ids + "0000000000000000"));
  EXPECT_FALSE(b3_single_valid(ids + "05E3AC9A4F6E3B90"));
  EXPECT_FALSE(b3_single_valid(ids + "05e3ac9a4f6e3b9"));
  EXPECT_FALSE(b3_single_valid(ids));
  EXPECT_FALSE(b3_single_valid(ids + "05e3ac9a4f6e3b90-1"));
}

TEST(B3Single, GarbageIsRejected) {
  for (std::string_view bad :
       {"", "garbage", "--", "-", "00", "true", "a3ce929d0e0e4736", "a3ce929d0e0e4736-",
        "a3ce929d0e0e473-00f067aa0ba902b7", "a3ce929d0e0e47361-00f067aa0ba902b7",
        "A3CE929D0E0E4736-00f067aa0ba902b7", "a3ce929d0e0e4736-00f067aa0ba902b7-2",
        "a3ce929d0e0e4736-00f067aa0ba902b7-", "0000000000000000-00f067aa0ba902b7-1",
        "a3ce929d0e0e4736-0000000000000000-1", "a3ce929d0e0e4736-00f067aa0ba902b-1"})
    EXPECT_FALSE(b3_single_valid(bad)) << bad;
}

// --- B3 multiple headers ---------------------------------------------------------------------------

TEST(B3Multi, IdsAndSampledHeaderGiveAContext) {
  ParentContext p;
  ASSERT_TRUE(parse_b3_multi(kTraceHex, kSpanHex, "1", "", p));
  EXPECT_TRUE(p.has_ids);
  EXPECT_EQ(p.trace_id, kTraceId);
  EXPECT_EQ(p.span_id, kSpanId);
  EXPECT_EQ(p.decision, ParentDecision::sampled);
  EXPECT_EQ(p.format, ParentFormat::b3_multi);
}

TEST(B3Multi, SixteenHexTraceIdIsLeftPadded) {
  ParentContext p;
  ASSERT_TRUE(parse_b3_multi("a3ce929d0e0e4736", kSpanHex, "0", "", p));
  const TraceId expected{0, 0, 0, 0, 0, 0, 0, 0, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
  EXPECT_EQ(p.trace_id, expected);
  EXPECT_EQ(p.decision, ParentDecision::not_sampled);
}

TEST(B3Multi, FlagsOneMeansSampled) {
  ParentContext p;
  ASSERT_TRUE(parse_b3_multi(kTraceHex, kSpanHex, "", "1", p));
  EXPECT_EQ(p.decision, ParentDecision::sampled);
  ParentContext q;
  ASSERT_TRUE(parse_b3_multi(kTraceHex, kSpanHex, "0", "1", q));
  EXPECT_EQ(q.decision, ParentDecision::sampled);
}

TEST(B3Multi, TrueAndFalseAreAcceptedSamplingValues) {
  ParentContext yes, no;
  ASSERT_TRUE(parse_b3_multi(kTraceHex, kSpanHex, "true", "", yes));
  ASSERT_TRUE(parse_b3_multi(kTraceHex, kSpanHex, "false", "", no));
  EXPECT_EQ(yes.decision, ParentDecision::sampled);
  EXPECT_EQ(no.decision, ParentDecision::not_sampled);
}

TEST(B3Multi, SampledAloneIsADecisionWithoutIds) {
  ParentContext p;
  ASSERT_TRUE(parse_b3_multi("", "", "1", "", p));
  EXPECT_FALSE(p.has_ids);
  EXPECT_EQ(p.decision, ParentDecision::sampled);
}

TEST(B3Multi, InvalidValuesAreRejected) {
  auto valid = [](std::string_view trace, std::string_view span, std::string_view sampled,
                  std::string_view flags) {
    ParentContext fresh;
    return parse_b3_multi(trace, span, sampled, flags, fresh);
  };
  EXPECT_FALSE(valid(kTraceHex, kSpanHex, "yes", ""));
  EXPECT_FALSE(valid(kTraceHex, "", "1", ""));
  EXPECT_FALSE(valid("", kSpanHex, "1", ""));
  EXPECT_FALSE(valid(kTraceHex, "00F067AA0BA902B7", "1", ""));
  EXPECT_FALSE(valid(std::string(32, '0'), kSpanHex, "1", ""));
  EXPECT_FALSE(valid("", "", "", ""));
}

// --- Precedence ------------------------------------------------------------------------------------

TEST(ExtractParent, W3cWinsOverB3AndB3SingleWinsOverMulti) {
  const std::string other_trace = "11111111111111111111111111111111";
  const std::string w3c = traceparent("00", kTraceHex, kSpanHex, "01");
  const std::string b3 = other_trace + "-2222222222222222-0";

  IncomingTraceHeaders h = with_traceparent(w3c);
  h.b3 = b3;
  h.b3_trace_id = "33333333333333333333333333333333";
  h.b3_span_id = "4444444444444444";
  h.b3_sampled = "1";
  ParentContext p = extract_parent(h);
  EXPECT_EQ(p.format, ParentFormat::w3c);
  EXPECT_EQ(p.trace_id, kTraceId);

  h.traceparent = {};
  h.traceparent_count = 0;
  p = extract_parent(h);
  EXPECT_EQ(p.format, ParentFormat::b3_single);
  EXPECT_EQ(p.trace_id[0], 0x11);
  EXPECT_EQ(p.decision, ParentDecision::not_sampled);

  h.b3 = {};
  p = extract_parent(h);
  EXPECT_EQ(p.format, ParentFormat::b3_multi);
  EXPECT_EQ(p.trace_id[0], 0x33);
  EXPECT_EQ(p.span_id[0], 0x44);
  EXPECT_EQ(p.decision, ParentDecision::sampled);
}

TEST(ExtractParent, InvalidTraceparentFallsBackToB3) {
  const std::string bad = traceparent("ff", kTraceHex, kSpanHex, "01");
  const std::string b3 = "a3ce929d0e0e4736-" + std::string(kSpanHex) + "-1";
  IncomingTraceHeaders h = with_traceparent(bad);
  h.b3 = b3;
  const ParentContext p = extract_parent(h);
  EXPECT_EQ(p.format, ParentFormat::b3_single);
  EXPECT_TRUE(p.has_ids);
  EXPECT_EQ(p.trace_id[0], 0);
  EXPECT_EQ(p.trace_id[8], 0xa3);
  EXPECT_EQ(p.decision, ParentDecision::sampled);
}

TEST(ExtractParent, InvalidB3SingleFallsBackToMultiWithoutLeftovers) {
  IncomingTraceHeaders h;
  h.b3 = std::string_view("a3ce929d0e0e4736-zz");
  h.b3_sampled = "0";
  const ParentContext p = extract_parent(h);
  EXPECT_EQ(p.format, ParentFormat::b3_multi);
  EXPECT_FALSE(p.has_ids);
  EXPECT_EQ(p.trace_id, TraceId{});  // nothing of the failed b3 parse survives
  EXPECT_EQ(p.decision, ParentDecision::not_sampled);
}

TEST(ExtractParent, NoHeadersMeansNoParent) {
  const ParentContext p = extract_parent(IncomingTraceHeaders{});
  EXPECT_FALSE(p.has_ids);
  EXPECT_EQ(p.decision, ParentDecision::none);
  EXPECT_EQ(p.format, ParentFormat::none);
}

// --- Formatting round trips ------------------------------------------------------------------------

TEST(FormatTraceparent, WritesTheW3cTextAndParsesBack) {
  for (bool sampled : {true, false}) {
    std::array<char, kTraceparentLength> text{};
    format_traceparent(kTraceId, kSpanId, sampled, text);
    const std::string_view view(text.data(), text.size());
    EXPECT_EQ(view, traceparent("00", kTraceHex, kSpanHex, sampled ? "01" : "00"));
    ParentContext p;
    ASSERT_TRUE(parse_traceparent(view, p));
    EXPECT_EQ(p.trace_id, kTraceId);
    EXPECT_EQ(p.span_id, kSpanId);
    EXPECT_EQ(p.decision, sampled ? ParentDecision::sampled : ParentDecision::not_sampled);
  }
}

TEST(FormatB3Single, WritesTheB3TextAndParsesBack) {
  for (bool sampled : {true, false}) {
    std::array<char, kB3SingleLength> text{};
    format_b3_single(kTraceId, kSpanId, sampled, text);
    const std::string_view view(text.data(), text.size());
    EXPECT_EQ(view, std::string(kTraceHex) + "-" + std::string(kSpanHex) + (sampled ? "-1" : "-0"));
    ParentContext p;
    ASSERT_TRUE(parse_b3_single(view, p));
    EXPECT_EQ(p.trace_id, kTraceId);
    EXPECT_EQ(p.span_id, kSpanId);
    EXPECT_EQ(p.decision, sampled ? ParentDecision::sampled : ParentDecision::not_sampled);
  }
}

TEST(WriteHex, WritesLowercaseDigits) {
  const std::array<std::uint8_t, 3> bytes{0x00, 0xab, 0xf9};
  char out[6];
  write_hex(bytes, out);
  EXPECT_EQ(std::string_view(out, 6), "00abf9");
}

}  // namespace
}  // namespace apimeter::tracing
