// Test helpers for the metrics unit tests: a fluent RequestRecord builder with fixed time points, an
// injectable clock, and lookups of families and series in an Exposition. Test code only.
#pragma once

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

#include "common/request_record.hpp"
#include "metrics/metrics_clock.hpp"

namespace apimeter::metrics::testing {

using namespace std::chrono_literals;

inline Clock::time_point t0() { return Clock::time_point{} + std::chrono::hours(24); }

struct FakeClock {
  Clock::time_point steady = t0();
  std::chrono::system_clock::time_point wall = std::chrono::system_clock::time_point{} + std::chrono::seconds(1'700'000'000);
  MetricsClock clock() {
    return MetricsClock{[this] { return steady; }, [this] { return wall; }};
  }
  void advance(Clock::duration d) {
    steady += d;
    wall += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  }
};

// One exchange: by default a GET that took 10 ms, answered 200 by the upstream in 8 ms (TTFB 5 ms).
class Exchange {
 public:
  Exchange(std::string_view method, std::string_view path, int status = 200, Clock::time_point start = t0()) {
    r_.method = method;
    r_.path = path;
    r_.target = path;
    r_.status = status;
    r_.head_started = start;
    r_.head_read = start + 100us;
    r_.upstream_started = r_.upstream_connected = start + 1ms;
    r_.upstream_first_byte = start + 6ms;
    r_.upstream_done = start + 9ms;
    r_.done = start + 10ms;
    r_.received_bytes = 100;
    r_.sent_bytes = 200;
    r_.request_body_bytes = 0;
    r_.response_body_bytes = 150;
  }
  Exchange& route(int index, std::string_view label) {
    r_.route_index = index;
    r_.route_label = label;
    return *this;
  }
  Exchange& took(Clock::duration total) {
    r_.done = r_.head_started + total;
    return *this;
  }
  // Upstream timeline relative to the request start.
  Exchange& upstream(Clock::duration connected, Clock::duration first_byte, Clock::duration done) {
    r_.upstream_started = r_.upstream_connected = r_.head_started + connected;
    r_.upstream_first_byte = r_.head_started + first_byte;
    r_.upstream_done = r_.head_started + done;
    return *this;
  }
  // The first attempt to take or open the upstream connection, when it came before the connection.
  Exchange& upstream_attempted(Clock::duration at) {
    r_.upstream_started = r_.head_started + at;
    return *this;
  }
  // The upstream was reached but its response never arrived (a timeout, a reset).
  Exchange& upstream_unfinished() {
    r_.upstream_first_byte = r_.upstream_done = Clock::time_point{};
    return *this;
  }
  Exchange& no_upstream() {
    r_.upstream_started = r_.upstream_connected = r_.upstream_first_byte = r_.upstream_done = Clock::time_point{};
    return *this;
  }
  Exchange& bytes(std::uint64_t received, std::uint64_t sent, std::uint64_t request_body, std::uint64_t response_body) {
    r_.received_bytes = received;
    r_.sent_bytes = sent;
    r_.request_body_bytes = request_body;
    r_.response_body_bytes = response_body;
    return *this;
  }
  Exchange& user(std::string_view u) {
    r_.user = u;
    return *this;
  }
  Exchange& error(std::string_view e) {
    r_.error_type = e;
    return *this;
  }
  Exchange& at(Clock::time_point start) {
    const auto shift = start - r_.head_started;
    for (auto* t : {&r_.head_started, &r_.head_read, &r_.upstream_started, &r_.upstream_connected, &r_.upstream_first_byte, &r_.upstream_done, &r_.done})
      if (*t != Clock::time_point{}) *t += shift;
    return *this;
  }
  const RequestRecord& record() const { return r_; }
  operator const RequestRecord&() const { return r_; }  // NOLINT: reads naturally at call sites

 private:
  RequestRecord r_;
};

inline const prometheus::MetricFamily* find_family(const std::vector<prometheus::MetricFamily>& families, std::string_view name) {
  for (const auto& f : families)
    if (f.name == name) return &f;
  return nullptr;
}

inline std::optional<std::string> label_of(const prometheus::ClientMetric& m, std::string_view name) {
  for (const auto& l : m.label)
    if (l.name == name) return l.value;
  return std::nullopt;
}

// The series of `family` whose labels include all of `wanted`; null when none (or not unique).
inline const prometheus::ClientMetric* find_series(const std::vector<prometheus::MetricFamily>& families, std::string_view family,
                                                   std::initializer_list<std::pair<std::string_view, std::string_view>> wanted) {
  const auto* f = find_family(families, family);
  if (f == nullptr) return nullptr;
  const prometheus::ClientMetric* found = nullptr;
  for (const auto& m : f->metric) {
    bool all = true;
    for (const auto& [name, value] : wanted) {
      auto v = label_of(m, name);
      if (!v || *v != value) all = false;
    }
    if (!all) continue;
    if (found != nullptr) return nullptr;
    found = &m;
  }
  return found;
}

}  // namespace apimeter::metrics::testing
