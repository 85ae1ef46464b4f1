// What the admin listener's /metrics handler needs: content negotiation (OpenMetrics 1.0 when the scraper's
// Accept asks for it, else the 0.0.4 text format), gzip when Accept-Encoding allows it, and the rendered
// body. Control thread only; the admin server owns the HTTP side.
#pragma once

#include <string>
#include <string_view>

#include "metrics/metrics_registry.hpp"

namespace apimeter::metrics {

enum class ExpositionFormat { text, openmetrics };

// Highest-q supported media range of an Accept header; text when absent or nothing better matches.
ExpositionFormat negotiate_format(std::string_view accept) noexcept;
// True when Accept-Encoding lists gzip (or *) with a non-zero q.
bool accepts_gzip(std::string_view accept_encoding) noexcept;

struct RenderedMetrics {
  std::string body;
  std::string_view content_type;
  bool gzipped = false;  // set Content-Encoding: gzip (and Vary: Accept-Encoding)
};

RenderedMetrics render_metrics(const MetricsRegistry& registry, std::string_view accept, std::string_view accept_encoding);

}  // namespace apimeter::metrics
