// Validation of MetricsSettings (config load time only; may allocate, never called per request).
#include "metrics/metrics_settings.hpp"

#include "metrics/hash.hpp"

#include <cmath>
#include <string_view>

#include <fmt/format.h>

namespace apimeter::metrics {
namespace {

void check_buckets(const std::vector<double>& buckets, std::string_view what, std::vector<std::string>& errors) {
  if (buckets.empty()) errors.push_back(fmt::format("{}: at least one bucket is needed", what));
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    if (!std::isfinite(buckets[i]) || buckets[i] < 0)
      errors.push_back(fmt::format("{}: bucket {} must be a finite number >= 0 (+Inf is implicit)", what, buckets[i]));
    else if (i > 0 && !(buckets[i] > buckets[i - 1]))
      errors.push_back(fmt::format("{}: buckets must be strictly increasing ({} after {})", what, buckets[i], buckets[i - 1]));
  }
}

}  // namespace

bool valid_extra_label_name(std::string_view name) noexcept {
  if (name.empty() || name.starts_with("__")) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  for (std::string_view taken : {"service", "http_route", "http_request_method", "network_protocol_version",
                                 "http_response_status_code", "error_type", "le", "user", "quantile"})
    if (name == taken) return false;
  return true;
}

std::vector<std::string> validate(const MetricsSettings& s) {
  std::vector<std::string> errors;
  if (s.service.empty()) errors.push_back("metrics: service must not be empty");
  check_buckets(s.duration_buckets, "duration buckets", errors);
  check_buckets(s.size_buckets, "size buckets", errors);
  if (s.route_buckets.size() > s.route_labels.size())
    errors.push_back("metrics: more per-route bucket lists than routes");
  for (std::size_t i = 0; i < s.route_buckets.size(); ++i)
    if (!s.route_buckets[i].empty())
      check_buckets(s.route_buckets[i], fmt::format("buckets of route {}", i < s.route_labels.size() ? s.route_labels[i] : "?"), errors);
  if (s.max_learned_templates == 0) errors.push_back("metrics: max_learned_templates must be at least 1");
  if (s.top_users == 0) errors.push_back("metrics: top_users must be at least 1");
  if (s.max_series == 0) errors.push_back("metrics: max_series must be at least 1");
  using Kind = UserIdentitySource::Kind;
  if (s.user_source.kind != Kind::none && s.user_source.kind != Kind::client_address &&
      s.user_source.kind != Kind::client_certificate && s.user_source.name.empty())
    errors.push_back("metrics: the user identity source needs a header, claim or cookie name");
  if (s.extra_labels.size() > kMaxExtraLabels)
    errors.push_back(fmt::format("metrics: at most {} extra labels", kMaxExtraLabels));
  for (std::size_t i = 0; i < s.extra_labels.size(); ++i) {
    const ExtraLabel& e = s.extra_labels[i];
    if (!valid_extra_label_name(e.label))
      errors.push_back(fmt::format("extra label '{}': not a valid label name, or one apimeter sets itself", e.label));
    for (std::size_t j = 0; j < i; ++j)
      if (s.extra_labels[j].label == e.label) errors.push_back(fmt::format("extra label '{}': defined twice", e.label));
    if (e.key.empty()) errors.push_back(fmt::format("extra label '{}': needs a header or query parameter name", e.label));
    if (e.allowed.size() > kMaxExtraLabelValues || e.max_values > kMaxExtraLabelValues || (e.allowed.empty() && e.max_values == 0))
      errors.push_back(fmt::format("extra label '{}': between 1 and {} values", e.label, kMaxExtraLabelValues));
    for (const auto& v : e.allowed)
      if (v.empty() || v.size() > kMaxExtraLabelValueBytes)
        errors.push_back(fmt::format("extra label '{}': allowed values must be 1 to {} bytes", e.label, kMaxExtraLabelValueBytes));
  }
  return errors;
}

std::string_view exported_user_id(std::string_view user, const MetricsSettings& settings,
                                  char (&scratch)[kExportedUserIdBytes]) noexcept {
  if (!settings.hash_user_ids || user.empty()) return user;
  scratch[0] = 'u';
  scratch[1] = '_';
  write_hex64(siphash24(user, SipKey::from_secret(settings.user_hash_secret)), std::span<char, 16>(scratch + 2, 16));
  return {scratch, kExportedUserIdBytes};
}

}  // namespace apimeter::metrics
