// Fuzz target: client trace headers (traceparent, tracestate, b3, X-B3-*) through the context parsers, then
// the same bytes as an OTLP response and as framed spans. Crashes, zero ids accepted, or no round trip are
// findings.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "tracing/otlp_request.hpp"
#include "tracing/trace_propagation.hpp"

using namespace apimeter;
using namespace apimeter::tracing;

namespace {

template <std::size_t N>
bool is_zero(const std::array<std::uint8_t, N>& id) {
  for (std::uint8_t b : id)
    if (b != 0) return false;
  return true;
}

void check_ids(const ParentContext& p) {
  if (p.has_ids && (is_zero(p.trace_id) || is_zero(p.span_id))) std::abort();
}

// What we send upstream from an accepted context must parse back to the same ids and decision.
void check_round_trip(const ParentContext& p) {
  if (!p.has_ids) return;
  const bool sampled = p.decision == ParentDecision::sampled;
  const ParentDecision expected = sampled ? ParentDecision::sampled : ParentDecision::not_sampled;

  char traceparent[kTraceparentLength];
  format_traceparent(p.trace_id, p.span_id, sampled, std::span<char, kTraceparentLength>(traceparent));
  ParentContext w3c;
  if (!parse_traceparent(std::string_view(traceparent, sizeof traceparent), w3c)) std::abort();
  if (w3c.trace_id != p.trace_id || w3c.span_id != p.span_id || w3c.decision != expected) std::abort();

  char b3[kB3SingleLength];
  format_b3_single(p.trace_id, p.span_id, sampled, std::span<char, kB3SingleLength>(b3));
  ParentContext single;
  if (!parse_b3_single(std::string_view(b3, sizeof b3), single)) std::abort();
  if (single.trace_id != p.trace_id || single.span_id != p.span_id || single.decision != expected)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // Lines: traceparent, tracestate, b3, X-B3-TraceId, X-B3-SpanId, X-B3-Sampled, X-B3-Flags.
  std::string_view lines[7];
  std::string_view rest = input;
  for (std::string_view& line : lines) {
    const std::size_t end = rest.find('\n');
    line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  }
  IncomingTraceHeaders headers;
  headers.traceparent = lines[0];
  headers.traceparent_count = lines[0].empty() ? 0 : 1;
  headers.tracestate = lines[1];
  headers.b3 = lines[2];
  headers.b3_trace_id = lines[3];
  headers.b3_span_id = lines[4];
  headers.b3_sampled = lines[5];
  headers.b3_flags = lines[6];

  const ParentContext parent = extract_parent(headers);
  check_ids(parent);
  if (parent.has_ids && parent.format == ParentFormat::none) std::abort();
  // tracestate travels only with the W3C context it belongs to, and is the client's text unchanged.
  if (parent.format == ParentFormat::w3c ? parent.tracestate != headers.tracestate
                                         : !parent.tracestate.empty())
    std::abort();
  check_round_trip(parent);

  ParentContext w3c;
  if (parse_traceparent(lines[0], w3c)) {
    if (!w3c.has_ids || w3c.decision == ParentDecision::none) std::abort();
    check_ids(w3c);
    check_round_trip(w3c);
  }
  ParentContext single;
  if (parse_b3_single(lines[2], single)) {
    if (!single.has_ids && single.decision == ParentDecision::none) std::abort();
    check_ids(single);
    check_round_trip(single);
  }
  ParentContext multi;
  if (parse_b3_multi(lines[3], lines[4], lines[5], lines[6], multi)) {
    if (!multi.has_ids && multi.decision == ParentDecision::none) std::abort();
    check_ids(multi);
    check_round_trip(multi);
  }

  // The whole input as a collector's ExportTraceServiceResponse.
  if (rejected_spans(input) < 0) std::abort();

  // And as framed spans: each frame lies inside the input, and they follow one another.
  SpanFrames frames(input);
  std::string_view span;
  std::size_t frame_count = 0;
  while (frames.next(span)) {
    if (span.data() < input.data() || span.data() + span.size() > input.data() + input.size()) std::abort();
    if (frames.consumed() > input.size()) std::abort();
    if (span.data() + span.size() != input.data() + frames.consumed()) std::abort();
    ++frame_count;
  }
  if (frame_count > 0) {
    const std::string request = encode_export_request("", "fuzz", input, frame_count);
    if (request.size() < frames.consumed() - 4 * frame_count) std::abort();
  }
  return 0;
}
