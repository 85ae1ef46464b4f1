// OTLP/HTTP protobuf bodies: the Resource of this process, an ExportTraceServiceRequest around spans the
// workers already encoded, and the partial-success count of an ExportTraceServiceResponse. Exporter
// thread; allocates.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tracing/exporter_settings.hpp"

namespace apimeter::tracing {

// A serialized opentelemetry.proto.resource.v1.Resource with `attributes` as string values.
std::string encode_resource(const KeyValues& attributes);

// Iterates the frames span_encoder wrote ([u32 little-endian length][Span]...). A truncated frame ends it.
class SpanFrames {
 public:
  explicit SpanFrames(std::string_view framed) : rest_(framed) {}
  bool next(std::string_view& span) noexcept;
  std::size_t consumed() const noexcept { return consumed_; }  // bytes of the frames returned so far

 private:
  std::string_view rest_;
  std::size_t consumed_ = 0;
};

// Builds the request body from the first `count` frames of `framed` (all of them if fewer).
std::string encode_export_request(std::string_view resource, std::string_view scope_version,
                                  std::string_view framed, std::size_t count);

// rejected_spans of ExportTraceServiceResponse.partial_success; 0 when absent or the body is not a
// well-formed response (it is the collector's, so it is parsed defensively).
std::int64_t rejected_spans(std::string_view response_body) noexcept;

}  // namespace apimeter::tracing
