// The clocks the metrics engine reads, injectable so tests control time (no sleeps). Steady time drives
// windows; wall time stamps series creation (_created) and reload timestamps.
#pragma once

#include <chrono>
#include <functional>

#include "common/request_record.hpp"

namespace apimeter::metrics {

struct MetricsClock {
  std::function<Clock::time_point()> steady = [] { return Clock::now(); };
  std::function<std::chrono::system_clock::time_point()> wall = [] { return std::chrono::system_clock::now(); };

  double wall_seconds() const {
    return std::chrono::duration<double>(wall().time_since_epoch()).count();
  }
};

}  // namespace apimeter::metrics
