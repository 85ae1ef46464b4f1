// Runs the independent decoders on a body written to a temporary file and parses flatten.js's lines.
// Nothing here knows the protobuf layout: that is the point of using the OpenTelemetry project's decoder.
#include "tests/integration/otlp_decode.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <filesystem>
#include <fstream>

namespace apimeter::test {
namespace {

constexpr Duration kDecodeTimeout = std::chrono::seconds(30);

// A file holding `body` for the decoders, removed when this goes out of scope.
class TempBody {
 public:
  explicit TempBody(std::string_view body) {
    static std::atomic<unsigned> counter{0};
    std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "apimeter_it" / "otlp";
    std::filesystem::create_directories(dir);
    path_ =
        (dir / ("body-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".bin")).string();
    std::ofstream(path_, std::ios::binary | std::ios::trunc)
        .write(body.data(), static_cast<std::streamsize>(body.size()));
  }
  ~TempBody() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  TempBody(const TempBody&) = delete;
  TempBody& operator=(const TempBody&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string unescape(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] != '\\' || i + 1 == field.size()) {
      out.push_back(field[i]);
      continue;
    }
    char c = field[++i];
    out.push_back(c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c);
  }
  return out;
}

std::vector<std::string> split_tabs(std::string_view line) {
  std::vector<std::string> fields;
  for (;;) {
    auto tab = line.find('\t');
    fields.push_back(unescape(line.substr(0, tab)));
    if (tab == std::string_view::npos) return fields;
    line.remove_prefix(tab + 1);
  }
}

template <typename Int>
bool to_number(const std::string& text, Int& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::optional<std::string> ExportedSpan::attribute(std::string_view key) const {
  auto it = attributes.find(key);
  if (it == attributes.end()) return std::nullopt;
  return it->second;
}

std::string ExportedSpan::attribute_type(std::string_view key) const {
  auto it = attribute_types.find(key);
  return it == attribute_types.end() ? std::string() : it->second;
}

std::optional<std::uint64_t> ExportedSpan::event_time(std::string_view event_name) const {
  for (const auto& event : events)
    if (event.name == event_name) return event.time_unix_nano;
  return std::nullopt;
}

std::string ExportedSpan::describe() const {
  std::string out = "span " + kind + " \"" + name + "\" trace " + trace_id + " id " + span_id + " parent " +
                    (parent_span_id.empty() ? "-" : parent_span_id) + " flags " + std::to_string(flags) +
                    (status_code.empty() ? "" : " status " + status_code + " " + status_message) + "\n";
  for (const auto& [key, value] : attributes) out += "  " + key + " = " + value + "\n";
  for (const auto& event : events)
    out += "  event " + event.name + " @" + std::to_string(event.time_unix_nano) + "\n";
  return out;
}

std::string describe_spans(const std::vector<ExportedSpan>& spans) {
  std::string out = std::to_string(spans.size()) + " spans\n";
  for (const auto& span : spans) out += span.describe();
  return out;
}

DecodedExport decode_otlp_traces(std::string_view body) {
  DecodedExport out;
  TempBody file(body);
  RunResult run = run_to_completion(
      "node", {source_dir() + "/tests/tools/otlp-decoder/flatten.js", file.path()}, kDecodeTimeout);
  if (run.exit_code != 0) {
    out.error = "flatten.js failed (exit " + (run.exit_code ? std::to_string(*run.exit_code) : "timeout") +
                "): " + run.err_text();
    return out;
  }
  std::map<std::string, std::string, std::less<>> resource;
  std::string scope_name, scope_version;
  ExportedSpan* span = nullptr;
  for (const auto& line : run.out) {
    std::vector<std::string> f = split_tabs(line);
    const std::string& what = f[0];
    bool ok = true;
    if (what == "resource" && f.size() == 1) {
      resource.clear();
    } else if (what == "rattr" && f.size() == 4) {
      resource[f[1]] = f[3];
    } else if (what == "scope" && f.size() == 3) {
      scope_name = f[1];
      scope_version = f[2];
    } else if (what == "span" && f.size() == 10) {
      ExportedSpan& s = out.spans.emplace_back();
      s.resource = resource;
      s.scope_name = scope_name;
      s.scope_version = scope_version;
      s.trace_id = f[1];
      s.span_id = f[2];
      s.parent_span_id = f[3];
      s.kind = f[4];
      ok = to_number(f[5], s.start_unix_nano) && to_number(f[6], s.end_unix_nano) && to_number(f[7], s.flags);
      s.trace_state = f[8];
      s.name = f[9];
      span = &s;
    } else if (what == "attr" && f.size() == 4 && span != nullptr) {
      span->attributes[f[1]] = f[3];
      span->attribute_types[f[1]] = f[2];
    } else if (what == "event" && f.size() == 3 && span != nullptr) {
      SpanEvent& event = span->events.emplace_back();
      event.name = f[1];
      ok = to_number(f[2], event.time_unix_nano);
    } else if (what == "status" && f.size() == 3 && span != nullptr) {
      span->status_code = f[1];
      span->status_message = f[2];
    } else {
      ok = false;
    }
    if (!ok) {
      out.error = "unexpected line from flatten.js: " + line;
      return out;
    }
  }
  return out;
}

RunResult protoc_decode_raw(std::string_view body) {
  TempBody file(body);
  // The shell only redirects stdin (Process gives children /dev/null); protoc does the work.
  return run_to_completion("sh", {"-c", "exec protoc --decode_raw < \"$0\"", file.path()}, kDecodeTimeout);
}

}  // namespace apimeter::test
