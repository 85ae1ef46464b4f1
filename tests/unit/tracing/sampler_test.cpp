// Head sampling (parent-based kinds, trace-id ratio and its exact bound, sampler names) and the export
// decision with its tail rules (should_export).
#include "tracing/sampler.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>

#include "tracing/id_generator.hpp"
#include "tracing/tracing_settings.hpp"

namespace apimeter::tracing {
namespace {

using namespace std::chrono_literals;

constexpr std::array<SamplerKind, 6> kAllKinds{SamplerKind::always_on,
                                               SamplerKind::always_off,
                                               SamplerKind::traceidratio,
                                               SamplerKind::parentbased_always_on,
                                               SamplerKind::parentbased_always_off,
                                               SamplerKind::parentbased_traceidratio};

// A trace id whose bytes 8..15 hold `low` big-endian; the high half is noise the rule must ignore.
TraceId trace_id_with_low(std::uint64_t low) {
  TraceId id{0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef};
  for (int i = 15; i >= 8; --i, low >>= 8) id[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(low);
  return id;
}

ParentContext parent_with(ParentDecision decision) {
  ParentContext p;
  p.decision = decision;
  p.has_ids = decision != ParentDecision::none;
  return p;
}

TEST(Sampler, ParentBasedKindsFollowTheParentsDecision) {
  const TraceId id = trace_id_with_low(0xffff'ffff'ffff'fffeULL);  // refused by any ratio below 1
  for (SamplerKind kind : {SamplerKind::parentbased_always_on, SamplerKind::parentbased_always_off,
                           SamplerKind::parentbased_traceidratio}) {
    const SamplerSettings s{kind, 0.0};
    EXPECT_TRUE(should_sample(s, parent_with(ParentDecision::sampled), id)) << sampler_name(kind);
    EXPECT_FALSE(should_sample(s, parent_with(ParentDecision::not_sampled), id)) << sampler_name(kind);
  }
  // The sampled parent wins even over a ratio that would refuse its trace id.
  EXPECT_FALSE(trace_id_ratio_sample(0.5, id));
  EXPECT_TRUE(
      should_sample({SamplerKind::parentbased_traceidratio, 0.5}, parent_with(ParentDecision::sampled), id));
}

TEST(Sampler, ParentBasedKindsDecideRootsLikeTheirRootSampler) {
  const TraceId id = trace_id_with_low(0x1000);
  const ParentContext root;
  EXPECT_TRUE(should_sample({SamplerKind::parentbased_always_on, 0.0}, root, id));
  EXPECT_FALSE(should_sample({SamplerKind::parentbased_always_off, 1.0}, root, id));
  EXPECT_TRUE(should_sample({SamplerKind::parentbased_traceidratio, 0.5}, root, id));
  EXPECT_FALSE(should_sample({SamplerKind::parentbased_traceidratio, 0.5}, root, trace_id_with_low(~0ULL)));
}

TEST(Sampler, NonParentBasedKindsIgnoreTheParent) {
  const TraceId id = trace_id_with_low(0x1000);
  EXPECT_TRUE(should_sample({SamplerKind::always_on, 0.0}, parent_with(ParentDecision::not_sampled), id));
  EXPECT_FALSE(should_sample({SamplerKind::always_off, 1.0}, parent_with(ParentDecision::sampled), id));
  EXPECT_FALSE(should_sample({SamplerKind::traceidratio, 0.0}, parent_with(ParentDecision::sampled), id));
}

TEST(Sampler, RootRatioZeroNeverSamplesAndOneAlwaysSamples) {
  IdGenerator ids(7);
  const ParentContext root;
  for (int i = 0; i < 1000; ++i) {
    const TraceId id = ids.trace_id();
    EXPECT_FALSE(should_sample({SamplerKind::traceidratio, 0.0}, root, id));
    EXPECT_TRUE(should_sample({SamplerKind::traceidratio, 1.0}, root, id));
  }
  EXPECT_FALSE(trace_id_ratio_sample(0.0, trace_id_with_low(0)));
  EXPECT_TRUE(trace_id_ratio_sample(1.0, trace_id_with_low(~0ULL)));
}

TEST(Sampler, RatioComparesTheLowSixtyFourBitsBigEndian) {
  EXPECT_TRUE(trace_id_ratio_sample(0.5, trace_id_with_low(0x7fff'ffff'ffff'ffffULL)));
  EXPECT_FALSE(trace_id_ratio_sample(0.5, trace_id_with_low(0x8000'0000'0000'0000ULL)));
  EXPECT_TRUE(trace_id_ratio_sample(0.25, trace_id_with_low(0x3fff'ffff'ffff'ffffULL)));
  EXPECT_FALSE(trace_id_ratio_sample(0.25, trace_id_with_low(0x4000'0000'0000'0000ULL)));
  // Little-endian reading would turn 0x00..80 into 0x80..00 and refuse it.
  EXPECT_TRUE(trace_id_ratio_sample(0.5, trace_id_with_low(0x80)));
  // Bytes 0..7 play no part.
  TraceId high_only{};
  high_only.fill(0xff);
  for (std::size_t i = 8; i < 16; ++i) high_only[i] = 0;
  EXPECT_TRUE(trace_id_ratio_sample(1e-9, high_only));
}

TEST(Sampler, RatioOfAQuarterSamplesAQuarterOfRandomIds) {
  IdGenerator ids(42);
  constexpr int kIds = 20'000;
  int sampled = 0;
  for (int i = 0; i < kIds; ++i)
    if (should_sample({SamplerKind::traceidratio, 0.25}, ParentContext{}, ids.trace_id())) ++sampled;
  EXPECT_NEAR(static_cast<double>(sampled) / kIds, 0.25, 0.02);
}

TEST(Sampler, NamesRoundTripForEveryKind) {
  for (SamplerKind kind : kAllKinds) {
    const auto back = sampler_from_name(sampler_name(kind));
    ASSERT_TRUE(back.has_value()) << sampler_name(kind);
    EXPECT_EQ(*back, kind);
  }
  EXPECT_EQ(sampler_name(SamplerKind::always_on), "always_on");
  EXPECT_EQ(sampler_name(SamplerKind::parentbased_traceidratio), "parentbased_traceidratio");
  EXPECT_EQ(sampler_from_name("traceidratio"), SamplerKind::traceidratio);
}

TEST(Sampler, UnknownNameGivesNothing) {
  EXPECT_FALSE(sampler_from_name("").has_value());
  EXPECT_FALSE(sampler_from_name("AlwaysOn").has_value());
  EXPECT_FALSE(sampler_from_name("always_on ").has_value());
  EXPECT_FALSE(sampler_from_name("jaeger_remote").has_value());
}

// --- should_export ---------------------------------------------------------------------------------

TEST(ShouldExport, HeadSampledRequestIsExported) {
  const TracingSettings s;
  EXPECT_TRUE(should_export(s, true, 200, false, 1ms));
  EXPECT_FALSE(should_export(s, false, 200, false, 1ms));
}

TEST(ShouldExport, TailErrorsExportsA5xx) {
  TracingSettings s;
  EXPECT_FALSE(should_export(s, false, 503, false, 1ms));  // rule off
  s.tail_errors = true;
  EXPECT_TRUE(should_export(s, false, 503, false, 1ms));
  EXPECT_TRUE(should_export(s, false, 500, false, 1ms));
  EXPECT_FALSE(should_export(s, false, 404, false, 1ms));
  EXPECT_FALSE(should_export(s, false, 200, false, 1ms));
}

TEST(ShouldExport, TailErrorsExportsAProxyFailureWithoutResponse) {
  TracingSettings s;
  s.tail_errors = true;
  EXPECT_TRUE(should_export(s, false, 0, true, 1ms));
  EXPECT_FALSE(should_export(s, false, 0, false, 1ms));
  // A failure after a response was sent is judged by its status.
  EXPECT_FALSE(should_export(s, false, 200, true, 1ms));
}

TEST(ShouldExport, TailLatencyExportsSlowRequestsFromTheThresholdOn) {
  TracingSettings s;
  EXPECT_FALSE(should_export(s, false, 200, false, 10s));  // zero threshold: off
  s.tail_latency = 250ms;
  EXPECT_FALSE(should_export(s, false, 200, false, 249ms));
  EXPECT_TRUE(should_export(s, false, 200, false, 250ms));
  EXPECT_TRUE(should_export(s, false, 200, false, 3s));
}

}  // namespace
}  // namespace apimeter::tracing
