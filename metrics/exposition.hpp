// The exposition data model: prometheus-cpp MetricFamily (what TextSerializer and any Collectable consumer
// understand) plus, per family, what OpenMetrics adds and prometheus-cpp cannot carry: the unit, the info
// type, per-series _created timestamps and per-bucket exemplars. Plain data; no behaviour.
#pragma once

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

namespace apimeter::metrics {

// The hook for tracing: an exemplar on a histogram bucket (OpenMetrics 1.0). Filled later by tracing.
struct Exemplar {
  std::string trace_id;
  std::string span_id;
  double value = 0.0;
  double timestamp = std::numeric_limits<double>::quiet_NaN();  // unix seconds; NaN: none
};

struct MetricExtras {
  double created = std::numeric_limits<double>::quiet_NaN();  // unix seconds; NaN: no _created sample
  // Parallel to the histogram's buckets (including +Inf); empty or nullopt: no exemplar on that bucket.
  std::vector<std::optional<Exemplar>> bucket_exemplars;
};

struct FamilyExtras {
  std::string unit;   // empty: inferred from the name ("_seconds", "_bytes")
  bool info = false;  // a gauge named "<x>_info" with value 1, exposed as OpenMetrics type info
  std::vector<MetricExtras> metrics;  // parallel to MetricFamily::metric; may be empty
};

struct Exposition {
  std::vector<prometheus::MetricFamily> families;
  std::vector<FamilyExtras> extras;  // parallel to families
};

}  // namespace apimeter::metrics
