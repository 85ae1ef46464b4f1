// Fast 0.0.4 text writer, byte-compatible with prometheus-cpp 1.0's TextSerializer: HELP (unescaped) and TYPE
// lines, histograms as _count, _sum, then _bucket lines (+Inf appended when missing), doubles as %.16g with
// Nan/+Inf/-Inf, label values with \\, \" and \n escaped. Builds each series' label text once.
#include "metrics/text_serializer.hpp"

#include "metrics/exposition_text.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

#include <prometheus/text_serializer.h>

namespace apimeter::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "Nan";
  } else if (std::isinf(v)) {
    out += v < 0 ? "-Inf" : "+Inf";
  } else {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 16);
    out.append(buf, r.ptr);
  }
}





// A sample line of this format: the shared head, then an optional timestamp.
struct Writer : SampleLine {
  std::int64_t timestamp_ms;

  void tail() {
    if (timestamp_ms != 0) {
      out += ' ';
      append_integer(out, timestamp_ms);
    }
    out += '\n';
  }
};

std::string_view type_name(MetricType type) {
  switch (type) {
    case MetricType::Counter: return "counter";
    case MetricType::Gauge: return "gauge";
    case MetricType::Summary: return "summary";
    case MetricType::Untyped: return "untyped";
    case MetricType::Histogram: return "histogram";
  }
  return "untyped";
}

// Close to the final size, so the output grows once: a 30 MB scrape would otherwise be copied ~5 times.
std::size_t estimate_size(const std::vector<MetricFamily>& families) {
  std::size_t bytes = 0;
  for (const auto& f : families) {
    bytes += f.name.size() * 2 + f.help.size() + 32;
    for (const auto& m : f.metric) {
      std::size_t labels = 0;
      for (const auto& l : m.label) labels += l.name.size() + l.value.size() + 4;
      const std::size_t lines = 3 + m.histogram.bucket.size() + m.summary.quantile.size();
      bytes += lines * (f.name.size() + labels + 40);
    }
  }
  return bytes;
}

}  // namespace

std::string serialize_text(const std::vector<MetricFamily>& families) {
  std::string out;
  out.reserve(estimate_size(families));
  std::string labels, bucket_prefix;
  BoundCache<append_double> bounds;
  for (const auto& family : families) {
    if (!family.help.empty()) {
      out += "# HELP ";
      out += family.name;
      out += ' ';
      out += family.help;
      out += '\n';
    }
    out += "# TYPE ";
    out += family.name;
    out += ' ';
    out += type_name(family.type);
    out += '\n';
    for (const auto& m : family.metric) {
      build_labels(labels, m);
      Writer w{{out, family.name, labels}, m.timestamp_ms};
      switch (family.type) {
        case MetricType::Counter:
          w.head("");
          append_double(out, m.counter.value);
          w.tail();
          break;
        case MetricType::Gauge:
          w.head("");
          append_double(out, m.gauge.value);
          w.tail();
          break;
        case MetricType::Untyped:
          w.head("");
          append_double(out, m.untyped.value);
          w.tail();
          break;
        case MetricType::Summary:
          w.head("_count");
          append_integer(out, m.summary.sample_count);
          w.tail();
          w.head("_sum");
          append_double(out, m.summary.sample_sum);
          w.tail();
          for (const auto& q : m.summary.quantile) {
            w.head("", "quantile", bounds.get(q.quantile));
            append_double(out, q.value);
            w.tail();
          }
          break;
        case MetricType::Histogram: {
          const auto& h = m.histogram;
          w.head("_count");
          append_integer(out, h.sample_count);
          w.tail();
          w.head("_sum");
          append_double(out, h.sample_sum);
          w.tail();
          // One prefix per series for all its bucket lines.
          bucket_prefix.assign(family.name).append("_bucket{").append(labels).append(labels.empty() ? "" : ",").append("le=\"");
          double last = -std::numeric_limits<double>::infinity();
          for (const auto& b : h.bucket) {
            out += bucket_prefix;
            out += bounds.get(b.upper_bound);
            out += "\"} ";
            last = b.upper_bound;
            append_integer(out, b.cumulative_count);
            w.tail();
          }
          if (last != std::numeric_limits<double>::infinity()) {
            w.head("_bucket", "le", "+Inf");
            append_integer(out, h.sample_count);
            w.tail();
          }
          break;
        }
      }
    }
  }
  return out;
}

std::string serialize_text_reference(const std::vector<MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace apimeter::metrics
