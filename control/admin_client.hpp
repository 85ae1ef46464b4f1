// A short-lived blocking client of a running proxy's admin listener: one HTTP/1.1 GET under one deadline,
// for `apimeter healthcheck` and `apimeter top`. It shares no state with the proxy and never runs in it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "control/config.hpp"
#include "control/limits.hpp"

namespace apimeter {

struct AdminAnswer {
  int status = 0;     // the HTTP status; 0 when there was no valid answer
  std::string body;
  std::string url;    // "http://127.0.0.1:9901/stats", for messages
  std::string error;  // why there was no answer, one line (status 0 only)
};

// GET http://ADMIN`target` within `timeout` (resolve, connect, send and read together), reading at most
// `body_limit` body bytes. Blocks the calling thread; never throws.
AdminAnswer admin_get(const HostPort& admin, std::string_view target, Duration timeout, std::size_t body_limit,
                      std::string_view user_agent);

}  // namespace apimeter
