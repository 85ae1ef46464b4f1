// Lock-free insert-only fingerprint set with linear probing (see series_budget.hpp). The read-modify-write
// operations here run once per new series per worker, which the threading rules allow (like allocation).
#include "metrics/series_budget.hpp"

#include <algorithm>
#include <bit>

namespace apimeter::metrics {

SeriesBudget::SeriesBudget(std::size_t max_series)
    : capacity_(std::bit_ceil(std::max<std::size_t>(max_series, 64) * 2)),
      table_(new std::atomic<std::uint64_t>[capacity_]),
      limit_(std::min(max_series, capacity_ / 2)) {
  for (std::size_t i = 0; i < capacity_; ++i) table_[i].store(0, std::memory_order_relaxed);
}

void SeriesBudget::set_limit(std::size_t max_series) noexcept {
  limit_.store(std::min(max_series, capacity_ / 2), std::memory_order_relaxed);
}

bool SeriesBudget::admit(std::uint64_t fp) noexcept {
  if (fp == 0) fp = 1;  // 0 marks an empty slot
  const std::size_t mask = capacity_ - 1;
  for (std::size_t i = fp & mask, probes = 0; probes < capacity_; i = (i + 1) & mask, ++probes) {
    std::uint64_t seen = table_[i].load(std::memory_order_acquire);
    if (seen == fp) return true;
    if (seen != 0) continue;
    // An empty slot ends the probe run: the series is new. Reserve a place under the cap, then claim.
    if (count_.fetch_add(1, std::memory_order_relaxed) >= limit_.load(std::memory_order_relaxed)) {
      count_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    std::uint64_t expected = 0;
    if (table_[i].compare_exchange_strong(expected, fp, std::memory_order_acq_rel)) return true;
    count_.fetch_sub(1, std::memory_order_relaxed);
    if (expected == fp) return true;  // another worker admitted the same series
  }
  return false;
}

}  // namespace apimeter::metrics
