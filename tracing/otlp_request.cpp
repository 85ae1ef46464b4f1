// OTLP request and response bodies (opentelemetry/proto/collector/trace/v1/trace_service.proto).
#include "tracing/otlp_request.hpp"

#include "tracing/protobuf_writer.hpp"

namespace apimeter::tracing {
namespace {

// ExportTraceServiceRequest.resource_spans = 1; ResourceSpans.resource = 1, .scope_spans = 2;
// ScopeSpans.scope = 1, .spans = 2; InstrumentationScope.name = 1, .version = 2; Resource.attributes = 1.
constexpr std::uint32_t kResourceSpans = 1, kResource = 1, kScopeSpans = 2, kScope = 1, kSpans = 2;

std::size_t field_size(std::size_t length) { return 1 + varint_size(length) + length; }

// A bounds-checked protobuf reader for the collector's response.
class ProtoReader {
 public:
  explicit ProtoReader(std::string_view data) : data_(data) {}
  bool done() const noexcept { return at_ >= data_.size(); }
  bool varint(std::uint64_t& out) noexcept {
    out = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at_ >= data_.size()) return false;
      const auto byte = static_cast<std::uint8_t>(data_[at_++]);
      out |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  // Reads a field's tag and, for length-delimited fields, its payload; skips other payloads.
  bool field(std::uint32_t& number, WireType& type, std::string_view& payload, std::uint64_t& value) noexcept {
    std::uint64_t tag = 0;
    if (!varint(tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return false;
    number = static_cast<std::uint32_t>(tag >> 3);
    type = static_cast<WireType>(tag & 7);
    switch (type) {
      case WireType::varint:
        return varint(value);
      case WireType::fixed64:
        return skip(8);
      case WireType::fixed32:
        return skip(4);
      case WireType::length_delimited: {
        std::uint64_t length = 0;
        if (!varint(length) || length > data_.size() - at_) return false;
        payload = data_.substr(at_, length);
        at_ += length;
        return true;
      }
    }
    return false;  // groups and reserved wire types
  }

 private:
  bool skip(std::size_t n) noexcept {
    if (n > data_.size() - at_) return false;
    at_ += n;
    return true;
  }
  std::string_view data_;
  std::size_t at_ = 0;
};

}  // namespace

std::string encode_resource(const KeyValues& attributes) {
  std::size_t bound = 16;
  for (const auto& [key, value] : attributes) bound += key.size() + value.size() + 32;
  std::string out(bound, '\0');
  ProtoWriter w(out.data(), out.size());
  for (const auto& [key, value] : attributes) {
    const std::size_t kv = w.begin(1);  // Resource.attributes
    w.string(1, key);                   // KeyValue.key
    const std::size_t any = w.begin(2); // KeyValue.value
    w.string(1, value);                 // AnyValue.string_value
    w.end(any);
    w.end(kv);
  }
  out.resize(w.size());
  return out;
}

bool SpanFrames::next(std::string_view& span) noexcept {
  if (rest_.size() < 4) return false;
  std::uint32_t n = 0;
  for (int i = 3; i >= 0; --i) n = n << 8 | static_cast<std::uint8_t>(rest_[static_cast<std::size_t>(i)]);
  if (n > rest_.size() - 4) return false;
  span = rest_.substr(4, n);
  rest_.remove_prefix(4 + n);
  consumed_ += 4 + n;
  return true;
}

std::string encode_export_request(std::string_view resource, std::string_view scope_version,
                                  std::string_view framed, std::size_t count) {
  char scope_bytes[128];
  ProtoWriter scope(scope_bytes, sizeof scope_bytes);
  scope.string(1, "apimeter");
  scope.string(2, scope_version.substr(0, 64));

  std::size_t spans_size = 0;
  {
    SpanFrames frames(framed);
    std::string_view span;
    for (std::size_t i = 0; i < count && frames.next(span); ++i) spans_size += field_size(span.size());
  }
  const std::size_t scope_spans = field_size(scope.size()) + spans_size;
  const std::size_t resource_spans = field_size(resource.size()) + field_size(scope_spans);

  std::string out;
  out.reserve(field_size(resource_spans));
  append_length_prefix(out, kResourceSpans, resource_spans);
  append_length_prefix(out, kResource, resource.size());
  out.append(resource);
  append_length_prefix(out, kScopeSpans, scope_spans);
  append_length_prefix(out, kScope, scope.size());
  out.append(scope.view());
  SpanFrames frames(framed);
  std::string_view span;
  for (std::size_t i = 0; i < count && frames.next(span); ++i) {
    append_length_prefix(out, kSpans, span.size());
    out.append(span);
  }
  return out;
}

std::int64_t rejected_spans(std::string_view body) noexcept {
  ProtoReader response(body);
  std::int64_t rejected = 0;
  while (!response.done()) {
    std::uint32_t number = 0;
    WireType type{};
    std::string_view payload;
    std::uint64_t value = 0;
    if (!response.field(number, type, payload, value)) return 0;
    if (number != 1 || type != WireType::length_delimited) continue;  // partial_success = 1
    ProtoReader partial(payload);
    while (!partial.done()) {
      if (!partial.field(number, type, payload, value)) return 0;
      if (number == 1 && type == WireType::varint) rejected = static_cast<std::int64_t>(value);  // rejected_spans
    }
  }
  return rejected > 0 ? rejected : 0;
}

}  // namespace apimeter::tracing
