// The trace identity of one exchange, as the request record carries it: ids, the head sampling decision
// and what arrived from the client. Plain data filled by tracing/ through proxy/, read by metrics/
// (exemplars), the access log and the span encoder. No behaviour beyond "is it set".
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace apimeter {

using TraceId = std::array<std::uint8_t, 16>;
using SpanId = std::array<std::uint8_t, 8>;

enum class ParentFormat : std::uint8_t { none, w3c, b3_single, b3_multi };

struct TraceContext {
  TraceId trace_id{};
  SpanId server_span_id{};   // our SERVER span
  SpanId client_span_id{};   // our CLIENT span: the parent the upstream sees in traceparent
  SpanId parent_span_id{};   // the client's span; all zero for a root
  std::string_view tracestate;  // the client's tracestate (W3C parent only), forwarded unchanged
  ParentFormat parent = ParentFormat::none;
  bool active = false;   // tracing was on for this exchange: the ids above are valid
  bool sampled = false;  // head decision (parent's flag, or the sampler's for a root)
  bool exported = false; // the spans were handed to the exporter (head or tail decision)
};

}  // namespace apimeter
