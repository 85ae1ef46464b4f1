// One worker's http_route ids: configured routes (by route index), templates learned from unmatched paths
// (capped per worker; the scrape caps the union again per process), and "_other". Worker thread only.
// A known template is found by string_view lookup without allocating; only a new template allocates.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/request_record.hpp"
#include "metrics/hash.hpp"

namespace apimeter::metrics {

inline constexpr std::uint32_t kOtherRouteId = UINT32_MAX;

// The route an exchange is charged to: its id in the route table and its http_route label (empty for
// "_other", which has no template to show in a log line or span).
struct ResolvedRoute {
  std::uint32_t id = kOtherRouteId;
  std::string_view label;
};

class RouteTable {
 public:
  // Configured labels by route index; learned templates are kept (renumbered after the configured ones).
  void configure(const std::vector<std::string>& configured_labels, std::size_t max_learned);

  // The route id of a completed exchange: the configured route when the record names one, else the
  // learned template of its path, else kOtherRouteId (not templatable, or over the cap).
  std::uint32_t resolve(const RequestRecord& record) noexcept;

  // For re-keying series after configure(): the id a label now has, if any.
  std::optional<std::uint32_t> find(std::string_view label, bool learned) const noexcept;

  std::string_view label(std::uint32_t id) const noexcept;
  bool learned(std::uint32_t id) const noexcept { return id != kOtherRouteId && id >= configured_.size(); }
  // Index of the configured route behind `id`, or -1 (learned, other).
  std::int64_t configured_index(std::uint32_t id) const noexcept {
    return id < configured_.size() ? static_cast<std::int64_t>(id) : -1;
  }
  std::size_t learned_count() const noexcept { return learned_labels_.size(); }

 private:
  std::uint32_t learn(std::string_view label) noexcept;

  using LabelMap = std::unordered_map<std::string, std::uint32_t, StringViewHash, std::equal_to<>>;
  std::vector<std::string> configured_;
  LabelMap configured_by_label_;  // first route index of each label
  LabelMap learned_;              // label -> ordinal
  std::vector<const std::string*> learned_labels_;  // by ordinal (keys of learned_, stable)
  std::size_t max_learned_ = 0;
};

}  // namespace apimeter::metrics
