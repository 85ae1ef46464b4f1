// Head sampling decisions.
#include "tracing/sampler.hpp"

#include <array>
#include <cmath>

namespace apimeter::tracing {
namespace {

struct Named {
  std::string_view name;
  SamplerKind kind;
};
constexpr std::array<Named, 6> kNames{{{"always_on", SamplerKind::always_on},
                                       {"always_off", SamplerKind::always_off},
                                       {"traceidratio", SamplerKind::traceidratio},
                                       {"parentbased_always_on", SamplerKind::parentbased_always_on},
                                       {"parentbased_always_off", SamplerKind::parentbased_always_off},
                                       {"parentbased_traceidratio", SamplerKind::parentbased_traceidratio}}};

bool root_decision(SamplerKind kind, double ratio, const TraceId& trace_id) noexcept {
  switch (kind) {
    case SamplerKind::always_on:
    case SamplerKind::parentbased_always_on:
      return true;
    case SamplerKind::always_off:
    case SamplerKind::parentbased_always_off:
      return false;
    case SamplerKind::traceidratio:
    case SamplerKind::parentbased_traceidratio:
      return trace_id_ratio_sample(ratio, trace_id);
  }
  return false;
}

}  // namespace

bool trace_id_ratio_sample(double ratio, const TraceId& trace_id) noexcept {
  if (!(ratio > 0.0)) return false;
  if (ratio >= 1.0) return true;
  std::uint64_t low = 0;
  for (std::size_t i = 8; i < 16; ++i) low = low << 8 | trace_id[i];
  // ratio * 2^64 computed in long double keeps the bound exact enough for ratios down to 2^-64.
  const long double bound = static_cast<long double>(ratio) * 18446744073709551616.0L;
  return static_cast<long double>(low) < bound;
}

bool should_sample(const SamplerSettings& s, const ParentContext& parent, const TraceId& trace_id) noexcept {
  const bool parent_based = s.kind == SamplerKind::parentbased_always_on ||
                            s.kind == SamplerKind::parentbased_always_off ||
                            s.kind == SamplerKind::parentbased_traceidratio;
  if (parent_based && parent.decision != ParentDecision::none) return parent.decision == ParentDecision::sampled;
  return root_decision(s.kind, s.ratio, trace_id);
}

std::optional<SamplerKind> sampler_from_name(std::string_view name) noexcept {
  for (const Named& n : kNames)
    if (n.name == name) return n.kind;
  return std::nullopt;
}

std::string_view sampler_name(SamplerKind kind) noexcept {
  for (const Named& n : kNames)
    if (n.kind == kind) return n.name;
  return "parentbased_traceidratio";
}

}  // namespace apimeter::tracing
