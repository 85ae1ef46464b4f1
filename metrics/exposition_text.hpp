// Text building blocks both exposition writers share (Prometheus 0.0.4 in text_serializer, OpenMetrics in
// openmetrics_serializer): label escaping, a series' label text built once, the head of a sample line,
// integers, and a per-family cache of formatted bucket bounds. The formats differ in number spelling
// only, which each writer passes in.
#pragma once

#include <prometheus/client_metric.h>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace apimeter::metrics {

// A label value with \\, \" and \n escaped, as both formats require.
inline void append_label_escaped(std::string& out, std::string_view s) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '\\' && c != '"' && c != '\n') continue;
    out.append(s.substr(run, i - run));
    out += c == '\\' ? "\\\\" : c == '"' ? "\\\"" : "\\n";
    run = i + 1;
  }
  out.append(s.substr(run));
}

template <typename Integer>
void append_integer(std::string& out, Integer v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// `a="x",b="y"` for one series, without braces; built once per series, reused by all its samples.
inline void build_labels(std::string& labels, const prometheus::ClientMetric& m) {
  labels.clear();
  for (const auto& l : m.label) {
    if (!labels.empty()) labels += ',';
    labels += l.name;
    labels += "=\"";
    append_label_escaped(labels, l.value);
    labels += '"';
  }
}

// Writes the start of one sample line: `name<suffix>{labels[,extra="v"]} `.
struct SampleLine {
  std::string& out;
  std::string_view name;
  std::string_view labels;

  void head(std::string_view suffix) {
    out += name;
    out += suffix;
    if (!labels.empty()) {
      out += '{';
      out += labels;
      out += '}';
    }
    out += ' ';
  }
  void head(std::string_view suffix, std::string_view extra_name, std::string_view extra_value) {
    out += name;
    out += suffix;
    out += '{';
    if (!labels.empty()) {
      out += labels;
      out += ',';
    }
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += "\"} ";
  }
};

// Formatted bucket bounds, reused across the series of a family (they share their buckets). `Format`
// is the writer's number spelling: void(std::string&, double).
template <auto Format>
class BoundCache {
 public:
  std::string_view get(double bound) {
    for (const auto& [b, text] : entries_)
      if (b == bound || (b != b && bound != bound)) return text;  // NaN matches NaN
    std::string text;
    Format(text, bound);
    if (entries_.size() >= 64) entries_.clear();
    entries_.emplace_back(bound, std::move(text));
    return entries_.back().second;
  }

 private:
  std::vector<std::pair<double, std::string>> entries_;
};

}  // namespace apimeter::metrics
