// The process-wide cap on metric series, shared by all workers: a fixed, lock-free set of series
// fingerprints (64-bit hashes of a family kind and its label values). A series that any worker already
// created is free for the others; a new one is admitted while fewer than the cap exist. Touched only when a
// worker sees a label set for the first time, never in steady state; never allocates after construction.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace apimeter::metrics {

class SeriesBudget {
 public:
  // `max_series` is the cap; the table is sized for it once (a later, larger cap is clamped to that size).
  explicit SeriesBudget(std::size_t max_series);

  // Any worker thread. True when the series exists or was admitted now; false when the cap refuses it.
  // Racing workers may overshoot the cap by at most (workers - 1).
  bool admit(std::uint64_t fingerprint) noexcept;

  void set_limit(std::size_t max_series) noexcept;  // control thread, on reload
  std::size_t size() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::size_t limit() const noexcept { return limit_.load(std::memory_order_relaxed); }

 private:
  std::size_t capacity_;  // slots in the table, a power of two, at least twice the largest limit
  std::unique_ptr<std::atomic<std::uint64_t>[]> table_;
  std::atomic<std::size_t> count_{0};
  std::atomic<std::size_t> limit_;
};

}  // namespace apimeter::metrics
