// OpenMetrics 1.0 text rendering (see openmetrics_serializer.hpp). Appends into one std::string with
// to_chars, so a scrape of a few hundred thousand samples costs milliseconds.
#include "metrics/openmetrics_serializer.hpp"

#include "metrics/exposition_text.hpp"

#include <charconv>
#include <cmath>
#include <string_view>
#include <utility>

namespace apimeter::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;


void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  // Integral values print as integers; counts and byte totals are the common case.
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
    out.append(buf, r.ptr);
    return;
  }
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}


// Timestamps in fixed notation: "1700000000.25", never "1.7e+09".
void append_timestamp(std::string& out, double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  out.append(buf, r.ptr);
}




// Canonical "le" texts (see canonical_number), formatted once per bound and family.
void append_canonical(std::string& out, double v) { out += canonical_number(v); }
using LeCache = BoundCache<append_canonical>;

bool ends_with(std::string_view s, std::string_view suffix) { return s.size() > suffix.size() && s.ends_with(suffix); }

std::string_view type_name(MetricType type, bool info) {
  switch (type) {
    case MetricType::Counter: return "counter";
    case MetricType::Gauge: return info ? "info" : "gauge";
    case MetricType::Histogram: return "histogram";
    case MetricType::Summary: return "summary";
    case MetricType::Untyped: return "unknown";
  }
  return "unknown";
}

void append_exemplar(std::string& out, const Exemplar& e) {
  out += " # {trace_id=\"";
  append_label_escaped(out, e.trace_id);
  out += "\",span_id=\"";
  append_label_escaped(out, e.span_id);
  out += "\"} ";
  append_double(out, e.value);
  if (!std::isnan(e.timestamp)) {
    out += ' ';
    append_timestamp(out, e.timestamp);
  }
}

void append_created(SampleLine& s, const MetricExtras* x) {
  if (x == nullptr || std::isnan(x->created)) return;
  s.head("_created");
  append_timestamp(s.out, x->created);
  s.out += '\n';
}

void append_histogram(SampleLine& s, const ClientMetric& m, const MetricExtras* x, LeCache& bounds) {
  std::string& out = s.out;
  const auto& h = m.histogram;
  // One prefix per series for all its bucket lines.
  thread_local std::string prefix;
  prefix.assign(s.name).append("_bucket{").append(s.labels).append(s.labels.empty() ? "" : ",").append("le=\"");
  bool has_inf = false;
  for (std::size_t i = 0; i < h.bucket.size(); ++i) {
    const auto& b = h.bucket[i];
    has_inf = has_inf || std::isinf(b.upper_bound);
    out += prefix;
    out += bounds.get(b.upper_bound);
    out += "\"} ";
    append_integer(out, b.cumulative_count);
    if (x != nullptr && i < x->bucket_exemplars.size() && x->bucket_exemplars[i]) append_exemplar(out, *x->bucket_exemplars[i]);
    out += '\n';
  }
  if (!has_inf) {
    s.head("_bucket", "le", "+Inf");
    append_integer(out, h.sample_count);
    out += '\n';
  }
  s.head("_count");
  append_integer(out, h.sample_count);
  out += '\n';
  s.head("_sum");
  append_double(out, h.sample_sum);
  out += '\n';
  append_created(s, x);
}

}  // namespace

std::string canonical_number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  auto sci = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view s(buf, static_cast<std::size_t>(sci.ptr - buf));
  int exponent = 0;
  if (auto e = s.find('e'); e != std::string_view::npos) std::from_chars(s.data() + e + (s[e + 1] == '+' ? 2 : 1), s.data() + s.size(), exponent);
  // Go's %g with the shortest precision switches to exponent form outside [1e-4, 1e6).
  if (v != 0 && (exponent < -4 || exponent >= 6)) return std::string(s);
  auto fixed = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  std::string out(buf, fixed.ptr);
  if (out.find('.') == std::string::npos) out += ".0";
  return out;
}

std::string serialize_openmetrics(const std::vector<MetricFamily>& families, std::span<const FamilyExtras> extras) {
  std::string out;
  // Close to the final size, so the output grows once.
  std::size_t bytes = 64;
  for (const auto& f : families) {
    bytes += f.name.size() * 3 + f.help.size() + 48;
    for (const auto& m : f.metric) {
      std::size_t label_bytes = 0;
      for (const auto& l : m.label) label_bytes += l.name.size() + l.value.size() + 4;
      bytes += (4 + m.histogram.bucket.size() + m.summary.quantile.size()) * (f.name.size() + label_bytes + 40);
    }
  }
  out.reserve(bytes);
  std::string labels;
  LeCache bounds;
  for (std::size_t f = 0; f < families.size(); ++f) {
    const MetricFamily& family = families[f];
    const FamilyExtras* fx = f < extras.size() ? &extras[f] : nullptr;
    const bool info = fx != nullptr && fx->info && family.type == MetricType::Gauge;
    std::string_view name = family.name;
    if (family.type == MetricType::Counter && ends_with(name, "_total")) name.remove_suffix(6);
    if (info && ends_with(name, "_info")) name.remove_suffix(5);

    std::string unit = fx != nullptr ? fx->unit : std::string();
    if (unit.empty() && !info) {
      if (ends_with(name, "_seconds")) unit = "seconds";
      else if (ends_with(name, "_bytes")) unit = "bytes";
    }
    if (!unit.empty() && !ends_with(name, "_" + unit)) unit.clear();  // the spec requires it as a suffix

    out += "# TYPE ";
    out += name;
    out += ' ';
    out += type_name(family.type, info);
    out += '\n';
    if (!unit.empty()) {
      out += "# UNIT ";
      out += name;
      out += ' ';
      out += unit;
      out += '\n';
    }
    if (!family.help.empty()) {
      out += "# HELP ";
      out += name;
      out += ' ';
      append_label_escaped(out, family.help);
      out += '\n';
    }
    for (std::size_t i = 0; i < family.metric.size(); ++i) {
      const ClientMetric& m = family.metric[i];
      const MetricExtras* x = fx != nullptr && i < fx->metrics.size() ? &fx->metrics[i] : nullptr;
      build_labels(labels, m);
      SampleLine series{out, name, labels};
      switch (family.type) {
        case MetricType::Counter:
          series.head("_total");
          append_double(out, m.counter.value);
          out += '\n';
          append_created(series, x);
          break;
        case MetricType::Gauge:
          series.head(info ? "_info" : "");
          append_double(out, info ? 1.0 : m.gauge.value);
          out += '\n';
          break;
        case MetricType::Histogram:
          append_histogram(series, m, x, bounds);
          break;
        case MetricType::Summary:
          for (const auto& q : m.summary.quantile) {
            series.head("", "quantile", bounds.get(q.quantile));
            append_double(out, q.value);
            out += '\n';
          }
          series.head("_count");
          append_integer(out, m.summary.sample_count);
          out += '\n';
          series.head("_sum");
          append_double(out, m.summary.sample_sum);
          out += '\n';
          append_created(series, x);
          break;
        case MetricType::Untyped:
          series.head("");
          append_double(out, m.untyped.value);
          out += '\n';
          break;
      }
    }
  }
  out += "# EOF\n";
  return out;
}

}  // namespace apimeter::metrics
