// The head sampler: OpenTelemetry's samplers by their OTEL_TRACES_SAMPLER names, parent-based ones
// following the client's decision and a trace-id ratio for roots. Pure and allocation-free; any thread.
#pragma once

#include <optional>
#include <string_view>

#include "tracing/trace_propagation.hpp"

namespace apimeter::tracing {

enum class SamplerKind : std::uint8_t {
  always_on,
  always_off,
  traceidratio,
  parentbased_always_on,
  parentbased_always_off,
  parentbased_traceidratio,
};

struct SamplerSettings {
  SamplerKind kind = SamplerKind::parentbased_traceidratio;
  double ratio = 1.0;  // traceidratio kinds: share of root traces sampled, 0..1
};

// `trace_id` is the id the request will carry (the parent's, or a new one for a root).
bool should_sample(const SamplerSettings& settings, const ParentContext& parent, const TraceId& trace_id) noexcept;

// The OTel spec's rule: a trace id is sampled when its low 64 bits, as an unsigned number, fall below
// ratio * 2^64 (so every process sampling at the same ratio agrees on the same traces).
bool trace_id_ratio_sample(double ratio, const TraceId& trace_id) noexcept;

std::optional<SamplerKind> sampler_from_name(std::string_view name) noexcept;
std::string_view sampler_name(SamplerKind kind) noexcept;

}  // namespace apimeter::tracing
