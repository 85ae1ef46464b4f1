// Optional extra labels (e.g. ?type= or a header): raw value extraction for the proxy, and the per-worker
// mapping of raw values to a small bounded index (allow-list or first-come cap). Values a client controls
// never become labels unbounded or unchecked. Must not allocate except when a capped value is first seen.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/metrics_settings.hpp"
#include "metrics/user_identity.hpp"

namespace apimeter::metrics {

using ExtraLabelValues = std::array<std::string_view, kMaxExtraLabels>;

// The raw value of query parameter `name` in a request target ("/p?a=1&type=x"), not percent-decoded;
// empty when absent.
std::string_view query_parameter(std::string_view target, std::string_view name) noexcept;

// For the proxy's complete step: the raw values of the configured extra labels of one request, in
// configuration order (empty view = absent). The views point into the headers or `target`.
void extract_extra_labels(std::span<const ExtraLabel> labels, HeaderLookup headers, std::string_view target,
                          ExtraLabelValues& out) noexcept;

// A value may become a label value only if short and made of [A-Za-z0-9._:/@+-].
bool safe_label_value(std::string_view value) noexcept;

// Index 0: absent. 1..n: a value. kExtraOther: "_other" (not allowed, over the cap, or unsafe).
inline constexpr std::uint8_t kExtraAbsent = 0;
inline constexpr std::uint8_t kExtraOther = 255;

// One extra label's values for one worker (worker thread only).
class ExtraLabelValuesIndex {
 public:
  explicit ExtraLabelValuesIndex(const ExtraLabel& definition);
  std::uint8_t index(std::string_view raw) noexcept;  // may allocate once per new capped value
  std::string_view value(std::uint8_t index) const noexcept;

 private:
  ExtraLabel definition_;  // a copy: the settings it came from may be replaced by a reload
  std::vector<std::string> values_;  // allow-list, or first-come values
};

}  // namespace apimeter::metrics
