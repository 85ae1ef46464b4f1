// Our OpenMetrics 1.0 text serializer (prometheus-cpp 1.0 has none): TYPE/UNIT/HELP metadata, counters as
// <name>_total with <name>_created, histograms as _bucket/_count/_sum/_created with optional exemplars,
// info families, canonical "le" numbers, and the closing "# EOF". Pure formatting: no I/O, no locking.
#pragma once

#include <span>
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

#include "metrics/exposition.hpp"

namespace apimeter::metrics {

inline constexpr std::string_view kOpenMetricsContentType = "application/openmetrics-text; version=1.0.0; charset=utf-8";

// `extras` is parallel to `families` (shorter or empty is fine: missing entries mean "no extras").
// Counter families may be named with or without the "_total" suffix; it is stripped from the family name.
std::string serialize_openmetrics(const std::vector<prometheus::MetricFamily>& families,
                                  std::span<const FamilyExtras> extras = {});

// OpenMetrics canonical rendering of an "le" value: Go's %g with ".0" added to integers ("0.005", "1.0",
// "65536.0", "1e+06", "+Inf").
std::string canonical_number(double value);

}  // namespace apimeter::metrics
