// Extra label extraction and bounded value indexing (see extra_labels.hpp).
#include "metrics/extra_labels.hpp"

#include <algorithm>

namespace apimeter::metrics {

std::string_view query_parameter(std::string_view target, std::string_view name) noexcept {
  std::size_t q = target.find('?');
  if (q == std::string_view::npos || name.empty()) return {};
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
  }
  return {};
}

void extract_extra_labels(std::span<const ExtraLabel> labels, HeaderLookup headers, std::string_view target,
                          ExtraLabelValues& out) noexcept {
  out.fill({});
  for (std::size_t i = 0; i < labels.size() && i < out.size(); ++i)
    out[i] = labels[i].source == ExtraLabel::Source::header ? headers(labels[i].key) : query_parameter(target, labels[i].key);
}

bool safe_label_value(std::string_view v) noexcept {
  if (v.empty() || v.size() > kMaxExtraLabelValueBytes) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == ':' || c == '/' || c == '@' || c == '+' || c == '-';
  });
}

ExtraLabelValuesIndex::ExtraLabelValuesIndex(const ExtraLabel& definition) : definition_(definition) {
  if (!definition.allowed.empty()) {
    values_ = definition.allowed;
    values_.resize(std::min<std::size_t>(values_.size(), kMaxExtraLabelValues));
  }
}

std::uint8_t ExtraLabelValuesIndex::index(std::string_view raw) noexcept {
  if (raw.empty()) return kExtraAbsent;
  for (std::size_t i = 0; i < values_.size(); ++i)
    if (values_[i] == raw) return static_cast<std::uint8_t>(i + 1);
  if (!definition_.allowed.empty() || !safe_label_value(raw)) return kExtraOther;
  if (values_.size() >= std::min(definition_.max_values, kMaxExtraLabelValues)) return kExtraOther;
  try {
    values_.emplace_back(raw);
  } catch (...) {
    return kExtraOther;
  }
  return static_cast<std::uint8_t>(values_.size());
}

std::string_view ExtraLabelValuesIndex::value(std::uint8_t index) const noexcept {
  if (index == kExtraAbsent) return {};
  if (index == kExtraOther || index > values_.size()) return "_other";
  return values_[index - 1];
}

}  // namespace apimeter::metrics
