// Snapshot keeping and window arithmetic for /stats (see stats_window.hpp).
#include "metrics/stats_window.hpp"

#include <algorithm>
#include <limits>

namespace apimeter::metrics {

void WindowSample::add(std::uint64_t n, std::uint64_t e, std::uint64_t in, std::uint64_t out, const HistogramData& h) {
  requests += n;
  errors += e;
  received += in;
  sent += out;
  if (h.empty()) return;
  // Merge through a dense copy: routes with different buckets re-bin into the first layout.
  HistogramData dense;
  if (layout) {
    dense.layout = layout;
    dense.counts.assign(layout->bucket_count(), 0);
    for (auto [i, c] : latency) dense.counts[i] += c;
  }
  dense.add(h);
  layout = dense.layout;
  latency.clear();
  for (std::size_t i = 0; i < dense.counts.size(); ++i)
    if (dense.counts[i] != 0) latency.emplace_back(static_cast<std::uint32_t>(i), dense.counts[i]);
}

LiveStats live_stats(const WindowSample& now, const WindowSample* before, double seconds) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  LiveStats s;
  s.seconds = seconds;
  const std::uint64_t base_requests = before ? std::min(before->requests, now.requests) : 0;
  const std::uint64_t base_errors = before ? std::min(before->errors, now.errors) : 0;
  s.requests = now.requests - base_requests;
  auto per_second = [seconds](std::uint64_t n) { return seconds > 0 ? static_cast<double>(n) / seconds : 0.0; };
  s.rate = per_second(s.requests);
  s.received_rate = per_second(now.received - (before ? std::min(before->received, now.received) : 0));
  s.sent_rate = per_second(now.sent - (before ? std::min(before->sent, now.sent) : 0));
  s.error_ratio = s.requests ? static_cast<double>(now.errors - base_errors) / static_cast<double>(s.requests) : kNaN;
  s.p50 = s.p95 = s.p99 = kNaN;
  if (!now.layout || s.requests == 0) return s;
  std::vector<std::uint64_t> counts(now.layout->bucket_count(), 0);
  for (auto [i, c] : now.latency) counts[i] = c;
  // Subtract the earlier distribution when its buckets are the same (they differ only across a reload).
  if (before && before->layout && before->layout->same_as(*now.layout))
    for (auto [i, c] : before->latency) counts[i] -= std::min(counts[i], c);
  s.p50 = now.layout->quantile(counts, 0.50);
  s.p95 = now.layout->quantile(counts, 0.95);
  s.p99 = now.layout->quantile(counts, 0.99);
  return s;
}

void StatsWindow::add(StatsSnapshot snapshot) {
  snapshots_.push_back(std::move(snapshot));
  const Clock::time_point start = snapshots_.back().at - window_;
  while (snapshots_.size() >= 2 && snapshots_[1].at <= start) snapshots_.pop_front();
}

const StatsSnapshot* StatsWindow::baseline(Clock::time_point now) const {
  const StatsSnapshot* best = nullptr;
  for (const auto& s : snapshots_)
    if (s.at <= now - window_) best = &s;
  return best;
}

}  // namespace apimeter::metrics
