// What the metrics engine is told by the config: service name, route labels, buckets, caps, the user
// identity source and optional extra labels. A plain value built at load/reload and shared immutable as
// shared_ptr<const MetricsSettings>; every default lives here. No behaviour beyond validation.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "metrics/user_identity.hpp"

namespace apimeter::metrics {

// OpenTelemetry HTTP semconv duration buckets, seconds.
inline const std::vector<double> kDefaultDurationBuckets = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                                            0.5,   0.75, 1,     2.5,  5,     7.5, 10};
// Body sizes, bytes: powers of 4 from 64 B to 64 MiB.
inline const std::vector<double> kDefaultSizeBuckets = {64,     256,     1024,     4096,      16384,   65536,
                                                        262144, 1048576, 4194304, 16777216, 67108864};
inline constexpr std::size_t kDefaultMaxLearnedTemplates = 200;
inline constexpr std::size_t kDefaultTopUsers = 20;
inline constexpr std::size_t kDefaultMaxSeries = 50000;
// Space-Saving entries per worker per listed user: more entries tighten the cross-worker guarantee (a user
// above 1/K + 1/(kUserSketchFactor*K) of the traffic is always listed; on one worker, above 1/K).
inline constexpr std::size_t kUserSketchFactor = 8;
// Distinct error_type values per worker before "_other" (the proxy has a fixed, small set).
inline constexpr std::size_t kMaxErrorTypes = 32;
inline constexpr std::size_t kMaxConnectErrorTypes = 24;
// Extra labels: how many, and the bounds on their values.
inline constexpr std::size_t kMaxExtraLabels = 4;
inline constexpr std::size_t kMaxExtraLabelValueBytes = 64;
inline constexpr std::size_t kDefaultExtraLabelValues = 10;
inline constexpr std::size_t kMaxExtraLabelValues = 250;

// An optional extra label on the request families, from a request header or a query parameter. Values are
// bounded either by an allow-list (anything else counts as "_other") or, without one, by a first-come cap
// per process (`max_values`; later values count as "_other"). Missing values leave the label off.
struct ExtraLabel {
  enum class Source { header, query };
  std::string label;                 // Prometheus label name, e.g. "request_type"
  Source source = Source::query;
  std::string key;                   // header name or query parameter name, e.g. "type"
  std::vector<std::string> allowed;  // allow-list of values; empty: first-come cap
  std::size_t max_values = kDefaultExtraLabelValues;

  bool operator==(const ExtraLabel&) const = default;
};

struct BuildInfo {
  std::string version;
  std::string revision;
};

struct MetricsSettings {
  std::string service;
  std::vector<std::string> route_labels;           // by route index: the http_route of each configured route
  std::vector<std::vector<double>> route_buckets;  // by route index: duration buckets override (empty = global)
  std::vector<double> duration_buckets = kDefaultDurationBuckets;  // seconds
  std::vector<double> size_buckets = kDefaultSizeBuckets;          // bytes
  std::size_t max_learned_templates = kDefaultMaxLearnedTemplates;  // per process; beyond: "_other"
  std::size_t top_users = kDefaultTopUsers;                         // K
  UserIdentitySource user_source;  // kind none: the per-user families are not exported
  bool hash_user_ids = false;      // export user ids as keyed hashes (they are personal data)
  std::string user_hash_secret;    // key for those hashes; set it, or guessable ids can be reversed
  std::size_t max_series = kDefaultMaxSeries;  // label sets over all request families; beyond: dropped, counted
  std::vector<ExtraLabel> extra_labels;        // at most kMaxExtraLabels
};

// Problems with `settings`, one human-readable line each (empty: valid). For config loading and
// `apimeter check`; the engine itself never throws on bad settings (it sanitizes buckets).
std::vector<std::string> validate(const MetricsSettings& settings);

// True for a valid Prometheus label name that does not collide with the labels apimeter sets itself.
bool valid_extra_label_name(std::string_view name) noexcept;

// A user id as every export shows it (metrics, /stats, spans): as sent, or "u_" and 16 hex digits of its
// keyed hash when hash_user_ids is on. The result may point into `scratch`.
inline constexpr std::size_t kExportedUserIdBytes = 18;
std::string_view exported_user_id(std::string_view user, const MetricsSettings& settings,
                                  char (&scratch)[kExportedUserIdBytes]) noexcept;

}  // namespace apimeter::metrics
