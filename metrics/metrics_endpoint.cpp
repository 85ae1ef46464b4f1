// Accept / Accept-Encoding parsing and /metrics rendering (see metrics_endpoint.hpp).
#include "metrics/metrics_endpoint.hpp"

#include <charconv>
#include <cctype>

#include "common/gzip.hpp"
#include "metrics/openmetrics_serializer.hpp"
#include "metrics/text_serializer.hpp"

#include "common/http_text.hpp"

namespace apimeter::metrics {
namespace {


// Calls f(value, params) for each comma-separated element ("type/sub;a=b;q=0.5").
template <typename F>
void for_each_element(std::string_view header, F&& f) {
  while (!header.empty()) {
    std::size_t comma = header.find(',');
    std::string_view element = trim_ows(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    std::size_t semi = element.find(';');
    f(trim_ows(element.substr(0, semi)), semi == std::string_view::npos ? std::string_view{} : element.substr(semi + 1));
  }
}

// The value of parameter `name` in "a=b; q=0.5" (lower-case compare of the name), or empty.
std::string_view param(std::string_view params, std::string_view name) noexcept {
  while (!params.empty()) {
    std::size_t semi = params.find(';');
    std::string_view p = trim_ows(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
    std::size_t eq = p.find('=');
    if (eq != std::string_view::npos && iequals(trim_ows(p.substr(0, eq)), name)) {
      std::string_view v = trim_ows(p.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return {};
}

double quality(std::string_view params) noexcept {
  std::string_view q = param(params, "q");
  if (q.empty()) return 1.0;
  double v = 1.0;
  if (std::from_chars(q.data(), q.data() + q.size(), v).ec != std::errc()) return 1.0;
  return v;
}

}  // namespace

ExpositionFormat negotiate_format(std::string_view accept) noexcept {
  double best_text = -1, best_om = -1;
  for_each_element(accept, [&](std::string_view type, std::string_view params) {
    const double q = quality(params);
    if (q <= 0) return;
    if (iequals(type, "application/openmetrics-text")) {
      std::string_view version = param(params, "version");
      // 0.0.1 is the pre-1.0 name Prometheus still sends; 1.0.0 is ours.
      if (version.empty() || version == "1.0.0" || version == "0.0.1") best_om = std::max(best_om, q);
    } else if (iequals(type, "text/plain") || iequals(type, "*/*") || iequals(type, "text/*")) {
      best_text = std::max(best_text, q);
    }
  });
  return best_om > 0 && best_om >= best_text ? ExpositionFormat::openmetrics : ExpositionFormat::text;
}

bool accepts_gzip(std::string_view accept_encoding) noexcept {
  bool yes = false;
  for_each_element(accept_encoding, [&](std::string_view coding, std::string_view params) {
    if ((iequals(coding, "gzip") || coding == "*") && quality(params) > 0) yes = true;
  });
  return yes;
}

RenderedMetrics render_metrics(const MetricsRegistry& registry, std::string_view accept, std::string_view accept_encoding) {
  RenderedMetrics out;
  if (negotiate_format(accept) == ExpositionFormat::openmetrics) {
    Exposition e = registry.collect_exposition();
    out.body = serialize_openmetrics(e.families, e.extras);
    out.content_type = kOpenMetricsContentType;
  } else {
    out.body = serialize_text(registry.Collect());
    out.content_type = kTextContentType;
  }
  if (accepts_gzip(accept_encoding)) {
    out.body = apimeter::gzip(out.body);
    out.gzipped = true;
  }
  return out;
}

}  // namespace apimeter::metrics
