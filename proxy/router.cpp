// Builds the route indexes from config and answers match() per request. Indexes only narrow the candidates
// (exact paths by hash, templates and prefixes by a trie of literal leading segments); the winner is
// always the lowest config index among the candidates that match: "first match in config order".
#include "proxy/router.hpp"

#include <algorithm>
#include <limits>

namespace apimeter {
namespace {

constexpr std::uint32_t kNoRoute = std::numeric_limits<std::uint32_t>::max();

std::string label_for(const RouteConfig& route) {
  return route.match == RouteMatch::prefix ? route.pattern + "*" : route.pattern;
}

// The complete segments of a prefix, each followed by '/' in it: "/static/img/" -> static, img;
// "/api/v" -> api; "/" and "/api" -> none.
std::vector<std::string_view> complete_segments(std::string_view prefix) {
  std::vector<std::string_view> segments;
  std::size_t start = 1;
  for (std::size_t slash = prefix.find('/', start); slash != std::string_view::npos;
       slash = prefix.find('/', start)) {
    segments.push_back(prefix.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

}  // namespace

Router::Router(const Config& config) {
  const auto count = static_cast<std::uint32_t>(config.routes.size());
  routes_.reserve(count);
  templates_.resize(count);
  prefixes_.resize(count);
  broken_.assign(count, false);
  nodes_.emplace_back();
  for (std::uint32_t index = 0; index < count; ++index) {
    const RouteConfig& source = config.routes[index];
    routes_.push_back(Route{
        .index = index,
        .name = source.name,
        .label = label_for(source),
        .match = source.match,
        .methods = source.methods,
        .request_timeout = source.request_timeout.value_or(config.timeouts.request),
        .upstream_response_timeout =
            source.upstream_response_timeout.value_or(config.timeouts.upstream_response),
    });
    std::string error;
    switch (source.match) {
      case RouteMatch::exact:
        if (!check_exact_path(source.pattern, error)) {
          broken_[index] = true;
          break;
        }
        exact_[source.pattern].push_back(index);
        break;
      case RouteMatch::path_template: {
        std::optional<RouteTemplate> parsed = RouteTemplate::parse(source.pattern, error);
        if (!parsed) {
          broken_[index] = true;
          break;
        }
        templates_[index] = std::move(*parsed);
        std::vector<std::string_view> literals;
        for (const RouteTemplate::Segment& segment : templates_[index].segments()) {
          if (segment.variable) break;
          literals.push_back(segment.text);
        }
        const std::uint32_t node = node_for(literals);
        nodes_[node].templates.push_back(index);
        break;
      }
      case RouteMatch::prefix: {
        if (!check_prefix(source.pattern, error)) {
          broken_[index] = true;
          break;
        }
        prefixes_[index] = source.pattern;
        const std::uint32_t node = node_for(complete_segments(prefixes_[index]));
        nodes_[node].prefixes.push_back(index);
        break;
      }
    }
  }
}

std::uint32_t Router::node_for(std::span<const std::string_view> segments) {
  std::uint32_t node = 0;
  for (std::string_view segment : segments) {
    const auto found = nodes_[node].children.find(segment);
    if (found != nodes_[node].children.end()) {
      node = found->second;
      continue;
    }
    const auto child = static_cast<std::uint32_t>(nodes_.size());
    nodes_.emplace_back();  // may move nodes_: look the parent up again below
    nodes_[node].children.emplace(std::string(segment), child);
    node = child;
  }
  return node;
}

bool Router::route_matches(std::uint32_t index, std::string_view method,
                           std::string_view path) const noexcept {
  if (broken_[index]) return false;
  const Route& route = routes_[index];
  if (!route.methods.empty() &&
      std::find(route.methods.begin(), route.methods.end(), method) == route.methods.end()) {
    return false;
  }
  switch (route.match) {
    case RouteMatch::exact:
      return true;  // only ever looked up under its own path
    case RouteMatch::path_template:
      return templates_[index].matches(path);
    case RouteMatch::prefix:
      return path.starts_with(prefixes_[index]);
  }
  return false;
}

void Router::consider(const IndexList& list, std::string_view method, std::string_view path,
                      std::uint32_t& best) const noexcept {
  for (std::uint32_t index : list) {
    if (index >= best) return;
    if (route_matches(index, method, path)) {
      best = index;
      return;
    }
  }
}

const Route* Router::match(std::string_view method, std::string_view path) const noexcept {
  path = path.substr(0, path.find('?'));
  if (path.empty() || path.front() != '/') return nullptr;
  std::uint32_t best = kNoRoute;
  if (!exact_.empty()) {
    const auto found = exact_.find(path);
    if (found != exact_.end()) consider(found->second, method, path, best);
  }
  // Walk the trie along the path's segments; every route that can match sits on a visited node.
  const TrieNode* node = &nodes_.front();
  std::size_t start = 1;
  while (true) {
    consider(node->templates, method, path, best);
    consider(node->prefixes, method, path, best);
    if (node->children.empty() || start > path.size()) break;
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const auto child = node->children.find(path.substr(start, end - start));
    if (child == node->children.end()) break;
    node = &nodes_[child->second];
    start = end + 1;
  }
  return best == kNoRoute ? nullptr : &routes_[best];
}

}  // namespace apimeter
