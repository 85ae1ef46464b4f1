// Route id resolution (see route_table.hpp). On the request path for every exchange: one index check and a
// label compare for configured routes; templating into a stack buffer plus one hash lookup for the others.
#include "metrics/route_table.hpp"

#include "metrics/route_templater.hpp"

namespace apimeter::metrics {

void RouteTable::configure(const std::vector<std::string>& configured_labels, std::size_t max_learned) {
  configured_ = configured_labels;
  configured_by_label_.clear();
  for (std::size_t i = 0; i < configured_.size(); ++i)
    configured_by_label_.emplace(configured_[i], static_cast<std::uint32_t>(i));
  max_learned_ = max_learned;
}

std::uint32_t RouteTable::learn(std::string_view label) noexcept {
  if (auto it = learned_.find(label); it != learned_.end())
    return static_cast<std::uint32_t>(configured_.size()) + it->second;
  if (learned_labels_.size() >= max_learned_) return kOtherRouteId;
  try {
    auto [it, inserted] = learned_.emplace(std::string(label), static_cast<std::uint32_t>(learned_labels_.size()));
    learned_labels_.push_back(&it->first);
    return static_cast<std::uint32_t>(configured_.size()) + it->second;
  } catch (...) {
    return kOtherRouteId;
  }
}

std::uint32_t RouteTable::resolve(const RequestRecord& r) noexcept {
  if (r.route_index >= 0) {
    const auto i = static_cast<std::size_t>(r.route_index);
    if (i < configured_.size() && (r.route_label.empty() || r.route_label == configured_[i]))
      return static_cast<std::uint32_t>(i);
    // Routed by a config this worker no longer has (a reload in between): go by the label.
    if (r.route_label.empty()) return kOtherRouteId;
    if (auto it = configured_by_label_.find(r.route_label); it != configured_by_label_.end()) return it->second;
    return learn(r.route_label);
  }
  TemplateBuffer buffer;
  std::string_view t = template_path(r.path, buffer);
  return t.empty() ? kOtherRouteId : learn(t);
}

std::optional<std::uint32_t> RouteTable::find(std::string_view label, bool learned) const noexcept {
  if (label == kOtherRoute) return kOtherRouteId;
  const LabelMap& map = learned ? learned_ : configured_by_label_;
  auto it = map.find(label);
  if (it == map.end()) return std::nullopt;
  return learned ? static_cast<std::uint32_t>(configured_.size()) + it->second : it->second;
}

std::string_view RouteTable::label(std::uint32_t id) const noexcept {
  if (id == kOtherRouteId) return kOtherRoute;
  if (id < configured_.size()) return configured_[id];
  std::size_t ordinal = id - configured_.size();
  return ordinal < learned_labels_.size() ? std::string_view(*learned_labels_[ordinal]) : kOtherRoute;
}

}  // namespace apimeter::metrics
