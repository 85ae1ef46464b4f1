// `apimeter healthcheck`: one blocking GET /readyz against a running proxy's admin listener, for container
// health probes, through the admin client (admin_client.hpp); it never runs in the proxy.
#pragma once

#include "control/config.hpp"
#include "control/limits.hpp"

namespace apimeter {

// GET http://ADMIN/readyz over HTTP/1.1 within `timeout` (resolve, connect, send and read together).
// Returns 0 on a 200 answer; otherwise prints one line saying why to stderr and returns 1. Blocks the
// calling thread; never throws.
int run_healthcheck(const HostPort& admin, Duration timeout);

}  // namespace apimeter
