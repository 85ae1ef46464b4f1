// Turns a finished request record into OTLP `Span` messages (protobuf): the SERVER span for the exchange
// and, when the request reached the upstream, its CLIENT child. Runs on the worker in the complete step,
// into a fixed buffer; attribute values that could be long are cut, never allocated for.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/request_record.hpp"
#include "tracing/tracing_settings.hpp"

namespace apimeter::tracing {

inline constexpr std::size_t kMaxPathAttribute = 2048;
inline constexpr std::size_t kMaxUserAgentAttribute = 512;
inline constexpr std::size_t kMaxTracestate = 512;  // W3C: a longer one may be dropped
inline constexpr std::size_t kSpanScratchBytes = 16 * 1024;  // both spans of the longest request fit

// What the record does not carry: the http.route the metrics resolved (a configured or learned template;
// empty when none), and the user id as exported (raw or hashed, per the metrics option; empty if none).
struct SpanInputs {
  std::string_view route;
  std::string_view user;
};

// Writes one or two framed spans into `out`: each is a 4-byte little-endian length, then a serialized
// opentelemetry.proto.trace.v1.Span. Returns the bytes written and sets `span_count`; 0 when they did not
// fit (never the case within kSpanScratchBytes).
std::size_t encode_spans(const RequestRecord& record, const TracingSettings& settings, const SpanInputs& inputs,
                         char* out, std::size_t capacity, std::size_t& span_count) noexcept;

}  // namespace apimeter::tracing
