// What `apimeter top` reads from /stats: the version-2 document (README, "Live view") parsed into plain
// structs. The text comes from the network, so anything that is not a well-formed document is an error
// message, never a crash or an exception.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace apimeter::top {

// Rates and quantiles over the document's window; NaN where /stats says null.
struct LiveFigures {
  double rate = 0, error_ratio = 0, received_rate = 0, sent_rate = 0;
  double p50 = 0, p95 = 0, p99 = 0;
};

struct RouteFigures {
  std::string route;
  std::uint64_t requests = 0, errors = 0;
  LiveFigures live;
};

struct UserFigures {
  std::string user;
  std::uint64_t requests = 0;
  double rate = 0;
  std::uint64_t active = 0;
};

struct EndpointFigures {
  std::string endpoint;
  std::uint64_t attempts = 0, connect_errors = 0;
};

struct StatsDocument {
  std::string service;
  double uptime_seconds = 0, window_seconds = 0;
  std::uint64_t requests = 0, errors = 0;
  std::uint64_t active_requests = 0, connections = 0, connection_limit = 0;
  std::uint64_t pool_idle = 0, pool_active = 0;
  std::uint64_t series = 0, series_limit = 0, series_dropped = 0;
  LiveFigures all;
  std::vector<RouteFigures> routes;
  std::vector<UserFigures> users;  // the listed top users
  std::vector<EndpointFigures> endpoints;
};

// Parses a /stats body into `out`. Returns false with `error` set (one line) when it is not JSON or not a
// version-2 /stats document; optional parts (users, endpoints) may be missing.
bool parse_stats_document(std::string_view text, StatsDocument& out, std::string& error);

}  // namespace apimeter::top
