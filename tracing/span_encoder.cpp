// OTLP span encoding. Field numbers are those of opentelemetry/proto/trace/v1/trace.proto and
// common/v1/common.proto; attribute names follow the OpenTelemetry HTTP semantic conventions.
#include "tracing/span_encoder.hpp"

#include <algorithm>
#include <charconv>

#include "common/http_method.hpp"
#include "tracing/protobuf_writer.hpp"

namespace apimeter::tracing {
namespace {

// opentelemetry.proto.trace.v1.Span
enum SpanField : std::uint32_t {
  kTraceId = 1, kSpanId = 2, kTraceState = 3, kParentSpanId = 4, kName = 5, kKind = 6, kStart = 7, kEnd = 8,
  kAttributes = 9, kEvents = 11, kStatus = 15, kFlags = 16,
};
enum SpanKind : std::uint64_t { kServer = 2, kClient = 3 };
enum EventField : std::uint32_t { kEventTime = 1, kEventName = 2 };
enum StatusField : std::uint32_t { kStatusMessage = 2, kStatusCode = 3 };
constexpr std::uint64_t kStatusError = 2;
// Span.flags: W3C trace flags in the low byte, then "has is_remote" and "is_remote" for the parent.
constexpr std::uint32_t kFlagSampled = 0x01, kFlagHasIsRemote = 0x100, kFlagIsRemote = 0x200;
// KeyValue { key = 1; value = 2 }, AnyValue { string = 1; bool = 2; int = 3 }
enum AttributeField : std::uint32_t { kKey = 1, kValue = 2 };
enum AnyValueField : std::uint32_t { kString = 1, kBool = 2, kInt = 3 };

void attribute(ProtoWriter& w, std::string_view key, std::string_view value, std::size_t max = 4096) {
  const std::size_t kv = w.begin(kAttributes);
  w.string(kKey, key);
  const std::size_t any = w.begin(kValue);
  w.string(kString, value.substr(0, max));
  w.end(any);
  w.end(kv);
}

void attribute(ProtoWriter& w, std::string_view key, std::int64_t value) {
  const std::size_t kv = w.begin(kAttributes);
  w.string(kKey, key);
  const std::size_t any = w.begin(kValue);
  w.int64(kInt, value);
  w.end(any);
  w.end(kv);
}

void bool_attribute(ProtoWriter& w, std::string_view key, bool value) {
  const std::size_t kv = w.begin(kAttributes);
  w.string(kKey, key);
  const std::size_t any = w.begin(kValue);
  w.varint(kBool, value ? 1 : 0);
  w.end(any);
  w.end(kv);
}

void event(ProtoWriter& w, std::string_view name, std::uint64_t at) {
  if (at == 0) return;
  const std::size_t e = w.begin(kEvents);
  w.fixed64(kEventTime, at);
  w.string(kEventName, name);
  w.end(e);
}

void error_status(ProtoWriter& w, std::string_view message) {
  const std::size_t s = w.begin(kStatus);
  w.string(kStatusMessage, message);
  w.varint(kStatusCode, kStatusError);
  w.end(s);
}

struct HostPort {
  std::string_view host;
  std::uint16_t port = 0;
};

// "host", "host:port", "[v6]:port" -> parts; the port stays 0 when absent or not a number.
HostPort split_host_port(std::string_view text) {
  HostPort out{text, 0};
  std::size_t colon = std::string_view::npos;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return out;
    out.host = text.substr(1, close - 1);
    if (close + 1 < text.size() && text[close + 1] == ':') colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon != std::string_view::npos) out.host = text.substr(0, colon);
  }
  if (colon == std::string_view::npos) return out;
  const std::string_view digits = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec == std::errc() && end == digits.data() + digits.size() && port <= 65535) out.port = static_cast<std::uint16_t>(port);
  return out;
}

std::string_view query_of(std::string_view target) {
  const std::size_t q = target.find('?');
  return q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
}

// "5xx" for an error.type attribute from a status code, without allocating.
std::string_view status_text(int status, char (&buffer)[4]) {
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, status);
  return ec == std::errc() ? std::string_view(buffer, static_cast<std::size_t>(end - buffer)) : std::string_view{};
}

void common_ids(ProtoWriter& w, const TraceContext& t, const SpanId& span, const SpanId* parent) {
  w.bytes(kTraceId, t.trace_id.data(), t.trace_id.size());
  w.bytes(kSpanId, span.data(), span.size());
  // The client's tracestate belongs to the whole trace: both spans carry it, as the upstream receives it.
  if (t.parent == ParentFormat::w3c && !t.tracestate.empty() && t.tracestate.size() <= kMaxTracestate)
    w.string(kTraceState, t.tracestate);
  if (parent) w.bytes(kParentSpanId, parent->data(), parent->size());
}

std::uint32_t span_flags(const TraceContext& t, bool parent_remote) {
  std::uint32_t flags = kFlagHasIsRemote;
  if (t.sampled) flags |= kFlagSampled;
  if (parent_remote) flags |= kFlagIsRemote;
  return flags;
}

void encode_server_span(ProtoWriter& w, const RequestRecord& r, const TracingSettings& settings, const SpanInputs& in) {
  const TraceContext& t = r.trace;
  const bool has_parent = t.parent != ParentFormat::none;
  common_ids(w, t, t.server_span_id, has_parent ? &t.parent_span_id : nullptr);

  const HttpMethod method = classify_method(r.method);
  // Semconv: "{method} {route}", "{method}" without a route, "HTTP" for methods outside the standard set.
  const std::string_view method_name = method == HttpMethod::other ? std::string_view("HTTP") : method_label(method);
  char name[320];
  std::size_t name_size = method_name.size();
  std::copy(method_name.begin(), method_name.end(), name);
  if (!in.route.empty()) {
    const std::size_t room = std::min(in.route.size(), sizeof name - name_size - 1);
    name[name_size++] = ' ';
    std::copy_n(in.route.data(), room, name + name_size);
    name_size += room;
  }
  w.string(kName, std::string_view(name, name_size));
  w.varint(kKind, kServer);
  const std::uint64_t start = r.unix_nanos(r.head_started);
  w.fixed64(kStart, start);
  w.fixed64(kEnd, std::max(start, r.unix_nanos(r.done)));

  attribute(w, "http.request.method", method_label(method));
  if (method == HttpMethod::other && !r.method.empty()) attribute(w, "http.request.method_original", r.method, 64);
  attribute(w, "url.path", r.path, kMaxPathAttribute);
  attribute(w, "url.scheme", r.scheme);
  if (!r.tls_protocol_version.empty()) {
    attribute(w, "tls.protocol.name", "tls");
    attribute(w, "tls.protocol.version", r.tls_protocol_version);
  }
  if (settings.capture_query) {
    const std::string_view query = query_of(r.target);
    if (!query.empty()) attribute(w, "url.query", query, kMaxPathAttribute);
  }
  if (!in.route.empty()) attribute(w, "http.route", in.route, kMaxPathAttribute);
  if (r.status != 0) attribute(w, "http.response.status_code", r.status);
  const HostPort server = split_host_port(r.host);
  if (!server.host.empty()) attribute(w, "server.address", server.host, 255);
  const std::uint16_t port = server.port != 0 ? server.port : r.listen_port;
  if (port != 0) attribute(w, "server.port", port);
  if (!r.client_address.empty()) attribute(w, "client.address", r.client_address);
  if (r.client_port != 0) attribute(w, "client.port", r.client_port);
  if (!r.user_agent.empty()) attribute(w, "user_agent.original", r.user_agent, kMaxUserAgentAttribute);
  attribute(w, "network.protocol.version", network_protocol_version(r.version));
  attribute(w, "http.request.body.size", static_cast<std::int64_t>(r.request_body_bytes));
  attribute(w, "http.response.body.size", static_cast<std::int64_t>(r.response_body_bytes));
  if (!in.user.empty()) attribute(w, "user.id", in.user, 256);
  char code[4];
  std::string_view error = r.error_type;
  if (error.empty() && r.status >= 500) error = status_text(r.status, code);
  if (!error.empty()) attribute(w, "error.type", error);
  // 4xx is the client's problem and leaves the status unset; 5xx and failures without a response are errors.
  if (r.status >= 500 || (r.status == 0 && !r.error_type.empty())) error_status(w, error);
  w.fixed32(kFlags, span_flags(t, has_parent));
}

void encode_client_span(ProtoWriter& w, const RequestRecord& r, const TracingSettings& settings) {
  const TraceContext& t = r.trace;
  common_ids(w, t, t.client_span_id, &t.server_span_id);
  const HttpMethod method = classify_method(r.method);
  w.string(kName, method == HttpMethod::other ? std::string_view("HTTP") : method_label(method));
  w.varint(kKind, kClient);
  const RequestRecord::Interval leg = r.upstream_leg();
  const std::uint64_t start = r.unix_nanos(leg.start);
  w.fixed64(kStart, start);
  w.fixed64(kEnd, std::max(start, r.unix_nanos(leg.end)));

  attribute(w, "http.request.method", method_label(method));
  if (method == HttpMethod::other && !r.method.empty()) attribute(w, "http.request.method_original", r.method, 64);
  const HostPort upstream = split_host_port(r.upstream_address);
  attribute(w, "server.address", upstream.host, 255);
  if (upstream.port != 0) attribute(w, "server.port", upstream.port);
  // url.full without the query unless queries are captured (they may carry secrets).
  char url[kMaxPathAttribute * 2 + 300];
  std::size_t url_size = 0;
  auto put = [&](std::string_view s) {
    const std::size_t n = std::min(s.size(), sizeof url - url_size);
    std::copy_n(s.data(), n, url + url_size);
    url_size += n;
  };
  put("http://");
  put(r.upstream_address.substr(0, 255));
  put(r.path.substr(0, kMaxPathAttribute));
  if (settings.capture_query) {
    const std::string_view query = query_of(r.target);
    if (!query.empty()) {
      put("?");
      put(query.substr(0, kMaxPathAttribute));
    }
  }
  attribute(w, "url.full", std::string_view(url, url_size), sizeof url);
  attribute(w, "network.protocol.version", "1.1");
  if (r.upstream_status != 0) attribute(w, "http.response.status_code", r.upstream_status);
  if (r.upstream_retried) attribute(w, "http.request.resend_count", 1);
  bool_attribute(w, "apimeter.upstream.reused", r.upstream_reused);
  char code[4];
  std::string_view error;
  if (r.error_type.starts_with("upstream_")) error = r.error_type;
  else if (r.upstream_status >= 500) error = status_text(r.upstream_status, code);
  if (!error.empty()) attribute(w, "error.type", error);
  event(w, "upstream.connected", r.unix_nanos(r.upstream_connected));
  event(w, "upstream.first_byte", r.unix_nanos(r.upstream_first_byte));
  if (!error.empty()) error_status(w, error);
  w.fixed32(kFlags, span_flags(t, false));
}

// Writes [length][span] with the span encoded by `encode`; false when it did not fit.
template <typename Encode>
bool framed(char* out, std::size_t capacity, std::size_t& used, Encode encode) {
  if (capacity - used < 4) return false;
  ProtoWriter w(out + used + 4, capacity - used - 4);
  encode(w);
  if (w.overflowed()) return false;
  const std::uint32_t n = static_cast<std::uint32_t>(w.size());
  for (int i = 0; i < 4; ++i) out[used + i] = static_cast<char>(n >> (8 * i) & 0xff);
  used += 4 + n;
  return true;
}

}  // namespace

bool should_export(const TracingSettings& s, bool head_sampled, int status, bool proxy_failed,
                   std::chrono::nanoseconds duration) noexcept {
  if (head_sampled) return true;
  if (s.tail_errors && (status >= 500 || (status == 0 && proxy_failed))) return true;
  return s.tail_latency.count() > 0 && duration >= s.tail_latency;
}

std::size_t encode_spans(const RequestRecord& r, const TracingSettings& settings, const SpanInputs& inputs,
                         char* out, std::size_t capacity, std::size_t& span_count) noexcept {
  std::size_t used = 0;
  span_count = 0;
  if (!framed(out, capacity, used, [&](ProtoWriter& w) { encode_server_span(w, r, settings, inputs); })) return 0;
  span_count = 1;
  const bool reached_upstream = r.upstream_leg().happened();
  if (reached_upstream && !r.upstream_address.empty()) {
    if (!framed(out, capacity, used, [&](ProtoWriter& w) { encode_client_span(w, r, settings); })) {
      span_count = 0;
      return 0;
    }
    span_count = 2;
  }
  return used;
}

}  // namespace apimeter::tracing
