// What the workers need to know about tracing, resolved from the config at load and reload and shared
// read-only through the snapshot: on or off, the sampler, the tail rules, what to propagate and record.
#pragma once

#include <chrono>
#include <cstdint>

#include "tracing/sampler.hpp"

namespace apimeter::tracing {

enum class B3Emit : std::uint8_t { off, single, multi };

struct TracingSettings {
  bool enabled = false;
  SamplerSettings sampler;
  // Tail rules: export the proxy's spans of a request the head sampler refused when it ended in a 5xx
  // (or a proxy failure), or took at least `tail_latency` (zero: off).
  bool tail_errors = false;
  std::chrono::nanoseconds tail_latency{0};
  B3Emit emit_b3 = B3Emit::off;
  bool capture_query = false;  // url.query on the server span, the query on the client span's url.full
};

// Whether a finished request's spans are exported: the head decision, else the tail rules.
bool should_export(const TracingSettings& settings, bool head_sampled, int status, bool proxy_failed,
                   std::chrono::nanoseconds duration) noexcept;

}  // namespace apimeter::tracing
