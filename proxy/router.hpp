// The compiled router: maps (method, path) to the first configured route that matches, in config order.
// Built once per config snapshot and immutable after; match() is on the request path, so it never
// allocates, throws or locks, and its cost follows the path's segments, not the number of routes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "control/config.hpp"
#include "control/route_template.hpp"

namespace apimeter {

struct Route {              // immutable once the snapshot is built
  std::uint32_t index = 0;  // position in config order
  std::string name;
  // Value of the http_route label: the template ("/api/orders/{id}"), the exact path ("/api/search"), or
  // for a prefix route the prefix followed by "*" ("/static/*"), so a prefix is never mistaken for a path.
  std::string label;
  RouteMatch match = RouteMatch::prefix;
  std::vector<std::string> methods;      // empty = any
  Duration request_timeout{};            // route override, else Config::timeouts.request (0 = off)
  Duration upstream_response_timeout{};  // route override, else Config::timeouts.upstream_response
};

class Router {
 public:
  // `config` has passed validate_config(); a route whose pattern is still invalid never matches.
  // Called while loading config; any thread.
  explicit Router(const Config& config);

  // First route in config order whose pattern matches `path` and whose methods include `method` (exact,
  // case-sensitive); nullptr when none does. `path` is the request path; anything from a '?' on is ignored.
  // No allocation, noexcept; safe from any thread once constructed.
  const Route* match(std::string_view method, std::string_view path) const noexcept;

  std::span<const Route> routes() const noexcept { return routes_; }

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept {
      return std::hash<std::string_view>{}(text);
    }
  };
  // Route indices, ascending, so the first hit in a list is that list's earliest route.
  using IndexList = std::vector<std::uint32_t>;
  using IndexMap = std::unordered_map<std::string, IndexList, StringHash, std::equal_to<>>;

  using ChildMap = std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>>;
  // One node per run of leading literal segments ("/api/orders/..." is root -> api -> orders). A template
  // lives at the node of its literal segments before the first variable; a prefix at the node of its
  // complete segments ("/static/img/" at static -> img, "/api/v" at api). Walking a path's segments visits
  // every node whose routes could match it.
  struct TrieNode {
    ChildMap children;
    IndexList templates;
    IndexList prefixes;
  };

  std::uint32_t node_for(std::span<const std::string_view> segments);
  bool route_matches(std::uint32_t index, std::string_view method, std::string_view path) const noexcept;
  // Lowers `best` to the first route in `list` below it that matches.
  void consider(const IndexList& list, std::string_view method, std::string_view path,
                std::uint32_t& best) const noexcept;

  std::vector<Route> routes_;
  std::vector<RouteTemplate> templates_;  // by route index; empty for exact and prefix routes
  std::vector<std::string> prefixes_;     // by route index; empty for exact and template routes
  std::vector<bool> broken_;              // by route index; a pattern that did not parse never matches
  IndexMap exact_;                        // exact path -> routes
  std::vector<TrieNode> nodes_;           // nodes_[0] is the root
};

}  // namespace apimeter
