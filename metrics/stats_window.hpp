// The last-minute view behind /stats: cumulative per-route snapshots taken by the registry's tick() (and
// one fresh snapshot per /stats call), and the live rate, 5xx ratio and p50/p95/p99 from the difference
// between now and about a minute ago. Scrape side only; costs the request path nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/request_record.hpp"
#include "metrics/histogram.hpp"

namespace apimeter::metrics {

// Cumulative counts of one route (or of all routes) at one instant; latency kept sparse (bucket, count).
struct WindowSample {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;    // responses with status >= 500
  std::uint64_t received = 0;  // bytes on the wire from clients
  std::uint64_t sent = 0;      // bytes on the wire to clients
  LayoutPtr layout;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> latency;

  void add(std::uint64_t requests, std::uint64_t errors, std::uint64_t received, std::uint64_t sent,
           const HistogramData& latency);
};

struct StatsSnapshot {
  Clock::time_point at;
  std::map<std::string, WindowSample, std::less<>> routes;
  WindowSample all;
  std::map<std::string, std::uint64_t, std::less<>> users;  // the listed top users' request counts
};

struct LiveStats {
  double seconds = 0;         // length of the window actually used
  std::uint64_t requests = 0;  // requests in the window
  double rate = 0;            // requests per second
  double error_ratio = 0;     // share of 5xx; NaN without requests
  double received_rate = 0;   // bytes per second from clients
  double sent_rate = 0;       // bytes per second to clients
  double p50 = 0, p95 = 0, p99 = 0;  // seconds; NaN without requests
};

// The window's figures from a cumulative sample now and one `seconds` earlier (null: zero at that time).
LiveStats live_stats(const WindowSample& now, const WindowSample* before, double seconds);

class StatsWindow {
 public:
  explicit StatsWindow(Clock::duration window = std::chrono::seconds(60)) : window_(window) {}

  // Keeps the snapshots a window ending at the newest one can need: everything newer than the window, plus
  // the newest one at or before its start.
  void add(StatsSnapshot snapshot);
  // The newest snapshot at least one window older than `now`; null when there is none yet (the caller then
  // measures from zero at start: a window shorter than a minute, never one of a few milliseconds).
  const StatsSnapshot* baseline(Clock::time_point now) const;
  Clock::duration window() const noexcept { return window_; }
  std::size_t size() const noexcept { return snapshots_.size(); }

 private:
  Clock::duration window_;
  std::deque<StatsSnapshot> snapshots_;
};

}  // namespace apimeter::metrics
