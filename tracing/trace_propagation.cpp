// W3C Trace Context level 1 (traceparent, tracestate) and B3 propagation
// (github.com/openzipkin/b3-propagation): strict lowercase-hex parsing, all-zero ids refused.
#include "tracing/trace_propagation.hpp"

#include <algorithm>

namespace apimeter::tracing {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is invalid in both formats
}

// Exactly 2*N lowercase hex digits into N bytes.
template <std::size_t N>
bool parse_hex(std::string_view text, std::array<std::uint8_t, N>& out) noexcept {
  if (text.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& id) noexcept {
  return std::all_of(id.begin(), id.end(), [](std::uint8_t b) { return b == 0; });
}

// B3 trace ids are 16 or 32 hex digits; a 64-bit one is the low half of a 128-bit W3C id.
bool parse_b3_trace_id(std::string_view text, TraceId& out) noexcept {
  if (text.size() == 32) return parse_hex(text, out);
  std::array<std::uint8_t, 8> low{};
  if (!parse_hex(text, low)) return false;
  out = {};
  std::copy(low.begin(), low.end(), out.begin() + 8);
  return true;
}

}  // namespace

void write_hex(std::span<const std::uint8_t> bytes, char* out) noexcept {
  constexpr char kDigits[] = "0123456789abcdef";
  for (std::uint8_t b : bytes) {
    *out++ = kDigits[b >> 4];
    *out++ = kDigits[b & 0xf];
  }
}

bool parse_traceparent(std::string_view text, ParentContext& out) noexcept {
  // version "-" trace-id "-" parent-id "-" flags; later versions may append "-..." fields.
  if (text.size() < kTraceparentLength) return false;
  std::array<std::uint8_t, 1> version{}, flags{};
  if (!parse_hex(text.substr(0, 2), version) || version[0] == 0xff) return false;
  if (version[0] == 0 && text.size() != kTraceparentLength) return false;
  if (text.size() > kTraceparentLength && text[kTraceparentLength] != '-') return false;
  if (text[2] != '-' || text[35] != '-' || text[52] != '-') return false;
  if (!parse_hex(text.substr(3, 32), out.trace_id) || !parse_hex(text.substr(36, 16), out.span_id) ||
      !parse_hex(text.substr(53, 2), flags))
    return false;
  if (all_zero(out.trace_id) || all_zero(out.span_id)) return false;
  out.has_ids = true;
  out.decision = (flags[0] & 0x01) != 0 ? ParentDecision::sampled : ParentDecision::not_sampled;
  out.format = ParentFormat::w3c;
  return true;
}

bool parse_b3_single(std::string_view text, ParentContext& out) noexcept {
  auto decision_of = [](std::string_view s, ParentDecision& d) {
    if (s == "1" || s == "d") d = ParentDecision::sampled;
    else if (s == "0") d = ParentDecision::not_sampled;
    else return false;
    return true;
  };
  out.format = ParentFormat::b3_single;
  // A lone sampling state: a decision without ids.
  if (text.size() == 1) return decision_of(text, out.decision);
  const std::size_t first = text.find('-');
  if (first == std::string_view::npos) return false;
  if (!parse_b3_trace_id(text.substr(0, first), out.trace_id)) return false;
  std::string_view rest = text.substr(first + 1);
  const std::size_t second = rest.find('-');
  if (!parse_hex(rest.substr(0, second), out.span_id)) return false;
  if (second != std::string_view::npos) {
    rest.remove_prefix(second + 1);
    const std::size_t third = rest.find('-');
    if (!decision_of(rest.substr(0, third), out.decision)) return false;
    // The parent span id is the client's business; it must only be well formed.
    SpanId parent{};
    if (third != std::string_view::npos && (!parse_hex(rest.substr(third + 1), parent) || all_zero(parent)))
      return false;
  }
  if (all_zero(out.trace_id) || all_zero(out.span_id)) return false;
  out.has_ids = true;
  return true;
}

bool parse_b3_multi(std::string_view trace_id, std::string_view span_id, std::string_view sampled,
                    std::string_view flags, ParentContext& out) noexcept {
  out.format = ParentFormat::b3_multi;
  if (flags == "1") out.decision = ParentDecision::sampled;  // debug implies sampled
  else if (sampled == "1" || sampled == "true") out.decision = ParentDecision::sampled;
  else if (sampled == "0" || sampled == "false") out.decision = ParentDecision::not_sampled;
  else if (!sampled.empty()) return false;
  if (trace_id.empty() && span_id.empty()) return out.decision != ParentDecision::none;
  if (!parse_b3_trace_id(trace_id, out.trace_id) || !parse_hex(span_id, out.span_id)) return false;
  if (all_zero(out.trace_id) || all_zero(out.span_id)) return false;
  out.has_ids = true;
  return true;
}

ParentContext extract_parent(const IncomingTraceHeaders& h) noexcept {
  ParentContext parent;
  if (h.traceparent_count == 1 && parse_traceparent(h.traceparent, parent)) {
    parent.tracestate = h.tracestate;
    return parent;
  }
  parent = {};
  if (!h.b3.empty() && parse_b3_single(h.b3, parent)) return parent;
  parent = {};
  if ((!h.b3_trace_id.empty() || !h.b3_span_id.empty() || !h.b3_sampled.empty() || !h.b3_flags.empty()) &&
      parse_b3_multi(h.b3_trace_id, h.b3_span_id, h.b3_sampled, h.b3_flags, parent))
    return parent;
  return {};
}

void format_traceparent(const TraceId& trace_id, const SpanId& span_id, bool sampled,
                        std::span<char, kTraceparentLength> out) noexcept {
  char* p = out.data();
  *p++ = '0';
  *p++ = '0';
  *p++ = '-';
  write_hex(trace_id, p);
  p += 32;
  *p++ = '-';
  write_hex(span_id, p);
  p += 16;
  *p++ = '-';
  *p++ = '0';
  *p = sampled ? '1' : '0';
}

void format_b3_single(const TraceId& trace_id, const SpanId& span_id, bool sampled,
                      std::span<char, kB3SingleLength> out) noexcept {
  char* p = out.data();
  write_hex(trace_id, p);
  p += 32;
  *p++ = '-';
  write_hex(span_id, p);
  p += 16;
  *p++ = '-';
  *p = sampled ? '1' : '0';
}

}  // namespace apimeter::tracing
