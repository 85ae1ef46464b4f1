// The proxy's configuration as loaded from YAML, environment and flags, before it is compiled into a
// runtime snapshot. Plain data: no I/O here, and nothing on the request path reads it by name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proxy/limits.hpp"

namespace apimeter {

// Where a value came from, for `FILE:LINE:COL: message` diagnostics. line/column are 1-based; 0 when the
// value came from a flag or the environment (file then names the flag, e.g. "--listen").
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

struct Diagnostic {
  SourceLocation where;
  std::string message;
};

// host:port as written; resolved to addresses when the snapshot is built.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
};

enum class RouteMatch { exact, path_template, prefix };

struct RouteConfig {
  std::string name;
  RouteMatch match = RouteMatch::prefix;
  std::string pattern;               // "/api/orders/{id}", "/static/", "/healthz"
  std::vector<std::string> methods;  // upper-case; empty = every method
  std::optional<Duration> request_timeout;            // overrides timeouts.request
  std::optional<Duration> upstream_response_timeout;  // overrides timeouts.upstream_response
  SourceLocation where;
};

enum class AccessLogMode { stdout_, file, off };
enum class UnmatchedRoutes { forward, reject };

struct Config {
  std::string service = "default";
  HostPort listen{"0.0.0.0", 8080};
  HostPort admin{"127.0.0.1", 9901};
  std::vector<HostPort> upstreams;
  unsigned workers = 0;  // 0 = std::thread::hardware_concurrency()
  Limits limits;
  Timeouts timeouts;
  PoolSettings pool;
  Duration drain_delay = defaults::kDrainDelay;
  Duration drain_timeout = defaults::kDrainTimeout;
  AccessLogMode access_log = AccessLogMode::stdout_;
  std::string access_log_path;
  // When false, X-Forwarded-Proto/-Host from the client are replaced; when true they are kept.
  bool trust_forwarded_headers = false;
  UnmatchedRoutes unmatched_routes = UnmatchedRoutes::forward;
  std::vector<RouteConfig> routes;
  std::string config_path;  // the file it was loaded from, for SIGHUP; empty in zero-config mode
};

}  // namespace apimeter
