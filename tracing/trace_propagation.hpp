// Trace context on the wire: reading W3C traceparent/tracestate and B3 (single `b3` header and the
// X-B3-* headers) from a client, and writing traceparent and B3 for the upstream. Pure functions over
// untrusted text: an invalid header yields "no parent" and never an error. No allocation.
#pragma once

#include <span>
#include <string_view>

#include "common/trace_context.hpp"

namespace apimeter::tracing {

// The trace headers of one request, as found by the proxy (empty views when absent).
struct IncomingTraceHeaders {
  std::string_view traceparent;
  int traceparent_count = 0;  // a repeated traceparent is ambiguous and ignored
  std::string_view tracestate;
  std::string_view b3;
  std::string_view b3_trace_id;
  std::string_view b3_span_id;
  std::string_view b3_sampled;
  std::string_view b3_flags;
};

enum class ParentDecision : std::uint8_t { none, sampled, not_sampled };

// What the client sent us: its trace and span ids (when it sent any) and its sampling decision.
struct ParentContext {
  TraceId trace_id{};
  SpanId span_id{};
  bool has_ids = false;
  ParentDecision decision = ParentDecision::none;  // B3 may defer the decision or send it without ids
  ParentFormat format = ParentFormat::none;
  std::string_view tracestate;  // kept only with a valid traceparent
};

// W3C first, then single b3, then X-B3-*: the first valid one wins.
ParentContext extract_parent(const IncomingTraceHeaders& headers) noexcept;

// Each returns false when `text` is not a valid header of its kind; `out` is then unspecified.
bool parse_traceparent(std::string_view text, ParentContext& out) noexcept;
bool parse_b3_single(std::string_view text, ParentContext& out) noexcept;
bool parse_b3_multi(std::string_view trace_id, std::string_view span_id, std::string_view sampled,
                    std::string_view flags, ParentContext& out) noexcept;

inline constexpr std::size_t kTraceparentLength = 55;  // "00-" 32 "-" 16 "-" 2
inline constexpr std::size_t kB3SingleLength = 51;     // 32 "-" 16 "-" 1

void format_traceparent(const TraceId& trace_id, const SpanId& span_id, bool sampled,
                        std::span<char, kTraceparentLength> out) noexcept;
void format_b3_single(const TraceId& trace_id, const SpanId& span_id, bool sampled,
                      std::span<char, kB3SingleLength> out) noexcept;
// Lowercase hex of `bytes` into `out`, which holds exactly twice as many characters.
void write_hex(std::span<const std::uint8_t> bytes, char* out) noexcept;

}  // namespace apimeter::tracing
