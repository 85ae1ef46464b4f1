// OTLP trace bodies decoded for the tracing tests by independent tools, never by apimeter's own code: the
// OpenTelemetry project's JS decoder (tests/tools/otlp-decoder, via flatten.js) and `protoc --decode_raw`.
// It owns no assertions; a decoding failure is reported in `error` for the test to assert on.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/process.hpp"

namespace apimeter::test {

struct SpanEvent {
  std::string name;
  std::uint64_t time_unix_nano = 0;
};

// One span as the OpenTelemetry decoder saw it; ids are lowercase hex, attribute values their text.
struct ExportedSpan {
  std::map<std::string, std::string, std::less<>> resource;  // attributes of its ResourceSpans
  std::string scope_name;
  std::string scope_version;
  std::string trace_id;
  std::string span_id;
  std::string parent_span_id;  // empty for a root span
  std::string kind;            // "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", ...
  std::string name;
  std::uint64_t start_unix_nano = 0;
  std::uint64_t end_unix_nano = 0;
  std::uint32_t flags = 0;
  std::string trace_state;
  std::map<std::string, std::string, std::less<>> attributes;
  std::map<std::string, std::string, std::less<>> attribute_types;  // "string", "int", "bool", "double"
  std::vector<SpanEvent> events;
  std::string status_code;  // "STATUS_CODE_ERROR", ...; empty when unset
  std::string status_message;

  bool is_server() const { return kind == "SPAN_KIND_SERVER"; }
  bool is_client() const { return kind == "SPAN_KIND_CLIENT"; }
  std::optional<std::string> attribute(std::string_view key) const;
  std::string attribute_type(std::string_view key) const;  // empty when absent
  std::optional<std::uint64_t> event_time(std::string_view event_name) const;
  // A multi-line rendering for failure messages.
  std::string describe() const;
};

struct DecodedExport {
  std::vector<ExportedSpan> spans;
  std::string error;  // empty when the body decoded
};

// Decodes an ExportTraceServiceRequest (uncompressed protobuf) with the OpenTelemetry JS decoder.
DecodedExport decode_otlp_traces(std::string_view body);

// `protoc --decode_raw` over `body`: its exit code and output.
RunResult protoc_decode_raw(std::string_view body);

// Every span of `spans` for which `predicate` holds.
template <typename Predicate>
std::vector<ExportedSpan> spans_where(const std::vector<ExportedSpan>& spans, Predicate predicate) {
  std::vector<ExportedSpan> out;
  for (const auto& span : spans)
    if (predicate(span)) out.push_back(span);
  return out;
}

inline std::vector<ExportedSpan> spans_of_trace(const std::vector<ExportedSpan>& spans,
                                                std::string_view trace_id) {
  return spans_where(spans, [&](const ExportedSpan& s) { return s.trace_id == trace_id; });
}

std::string describe_spans(const std::vector<ExportedSpan>& spans);

}  // namespace apimeter::test
