// Client timeouts under load, as Envoy's overload manager scales them ("reduce_timeouts"): below
// limits.overload_start of the connection cap a timeout is as configured; from there it shrinks linearly to
// its floor, reached at the cap. Silent, slow and idle connections then give their slots back sooner, and
// the cap's reclaim (Worker::reclaim_idle_connection) seldom has to act. Pure; on the request path.
#pragma once

#include <cstddef>

#include "control/limits.hpp"

namespace apimeter {

// `open` connections against a cap of `cap` (0 = unlimited, never scaled). A start of 1 turns scaling off;
// a disabled timeout (0) stays disabled, and a floor at or above the timeout leaves it as it is.
constexpr Duration scaled_client_timeout(Duration configured, Duration floor, std::size_t open, std::size_t cap,
                                         double start) noexcept {
  if (cap == 0 || configured.count() == 0 || floor >= configured || start >= 1.0) return configured;
  const double load = static_cast<double>(open) / static_cast<double>(cap);
  if (load <= start) return configured;
  const double pressure = load >= 1.0 ? 1.0 : (load - start) / (1.0 - start);
  const double span = static_cast<double>((configured - floor).count());
  const Duration scaled = configured - Duration(static_cast<Duration::rep>(pressure * span));
  // Never 0, which would mean no timeout at all exactly when connections are scarcest.
  return scaled.count() > 0 ? scaled : Duration(1);
}

}  // namespace apimeter
