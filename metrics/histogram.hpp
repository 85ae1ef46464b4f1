// Histograms with enough resolution for an accurate p99: log-linear buckets over integer units (HDR-style),
// split exactly at every configured Prometheus bound, so re-bucketing at scrape time is exact. Owns the
// bucket layout (immutable, shared), the single-writer atomic counts, and the scrape-side merged copy.
// Must not lock or allocate in observe(); the layout is built at config load only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace apimeter::metrics {

// Value -> bucket over unsigned integer units. Values below 2^min_exp share 2^sub_bits linear buckets; each
// power of two from 2^min_exp to 2^max_exp is cut into 2^sub_bits equal buckets (relative width
// 2^-sub_bits); values from 2^max_exp up land in one overflow bucket.
struct LogLinearScale {
  std::uint8_t sub_bits = 3;
  std::uint8_t min_exp = 13;
  std::uint8_t max_exp = 37;

  constexpr std::size_t bucket_count() const noexcept {
    return ((static_cast<std::size_t>(max_exp - min_exp) + 1) << sub_bits) + 1;
  }
  std::size_t index(std::uint64_t value) const noexcept;
  std::uint64_t lower(std::size_t bucket) const noexcept;  // inclusive lower bound
  bool operator==(const LogLinearScale&) const = default;
};

// Durations in nanoseconds: 8 linear buckets of 1 us below 8.2 us, then 12.5 %-wide buckets up to 137 s;
// 201 buckets (+1 per configured bound off a boundary: 215 with the defaults), 1.7 KiB of counts per
// histogram. Interpolating inside a bucket keeps p99 within about 1 %.
inline constexpr LogLinearScale kDurationScale{3, 13, 37};
inline constexpr double kNanosPerSecond = 1e9;
// Body sizes in bytes: 25 %-wide buckets from 64 B to 64 GiB; 125 buckets (+1 per configured bound), ~1 KiB.
inline constexpr LogLinearScale kSizeScale{2, 6, 36};

// The buckets of one histogram: the log-linear scale plus a split at (threshold + 1) for every configured
// bound that does not already fall on a scale boundary. A configured bound b (base units: seconds, bytes)
// has the integer threshold T = floor(b * units_per_base), so "value <= b" is exactly "units <= T", and the
// cumulative count at b is the sum of the final buckets below T + 1: no estimate, whatever the bound.
class HistogramLayout {
 public:
  // `bounds` are sanitized: non-finite and negative values dropped, sorted, duplicates removed.
  HistogramLayout(LogLinearScale scale, double units_per_base, std::vector<double> bounds);

  std::size_t bucket_count() const noexcept { return lower_.size(); }
  std::size_t index(std::uint64_t units) const noexcept;
  std::uint64_t lower(std::size_t bucket) const noexcept { return lower_[bucket]; }
  // Exclusive upper bound; the overflow bucket has none (UINT64_MAX).
  std::uint64_t upper(std::size_t bucket) const noexcept;

  const std::vector<double>& bounds() const noexcept { return bounds_; }
  LogLinearScale scale() const noexcept { return scale_; }
  double units_per_base() const noexcept { return units_per_base_; }
  bool same_as(const HistogramLayout& other) const noexcept;

  // Cumulative counts at each configured bound (out.size() == bounds().size()), exact.
  void cumulative_at_bounds(std::span<const std::uint64_t> counts, std::span<std::uint64_t> out) const noexcept;
  // Per bound: how many final buckets lie at or below it.
  const std::vector<std::uint32_t>& bound_ends() const noexcept { return bound_end_; }
  // The q-quantile (0..1) in base units, interpolated linearly inside its bucket; NaN when empty.
  double quantile(std::span<const std::uint64_t> counts, double q) const noexcept;

 private:
  LogLinearScale scale_;
  double units_per_base_;
  std::vector<double> bounds_;
  std::vector<std::uint64_t> splits_;       // sorted extra boundaries inside scale buckets
  std::vector<std::uint32_t> first_part_;   // per scale bucket (+1 sentinel): final index of its first part
  std::vector<std::uint64_t> lower_;        // per final bucket
  std::vector<std::uint32_t> bound_end_;    // per bound: number of final buckets counted at or below it
};

using LayoutPtr = std::shared_ptr<const HistogramLayout>;

// Converts a configured bound to its integer threshold (see HistogramLayout).
std::uint64_t bound_threshold(double bound, double units_per_base) noexcept;

// One series' histogram, written by one thread (relaxed load + store, no read-modify-write) and read by the
// scrape thread with relaxed loads. _count is the sum of the buckets, so it always equals the +Inf bucket.
class AtomicHistogram {
 public:
  explicit AtomicHistogram(LayoutPtr layout);
  AtomicHistogram(const AtomicHistogram&) = delete;
  AtomicHistogram& operator=(const AtomicHistogram&) = delete;

  // Owning thread only.
  void observe(std::uint64_t units) noexcept {
    auto& c = counts_[layout_->index(units)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    sum_.store(sum_.load(std::memory_order_relaxed) + static_cast<double>(units) * base_per_unit_,
               std::memory_order_relaxed);
  }

  const LayoutPtr& layout() const noexcept { return layout_; }
  // Any thread: adds the cumulative counts at `target`'s bounds, then the total, into `out`
  // (target.bounds().size() + 1 long); returns the sum. Exact when `target` has this histogram's buckets
  // (the normal case); otherwise each bucket counts at its lower bound (only while a reload is in flight).
  double add_cumulative(const HistogramLayout& target, std::span<std::uint64_t> out) const noexcept;
  // Any thread: adds the current counts into `counts` (layout().bucket_count() long) and their total into
  // `total`; returns the sum of observed values.
  double add_to(std::span<std::uint64_t> counts, std::uint64_t& total) const noexcept;
  std::size_t heap_bytes() const noexcept { return layout_->bucket_count() * sizeof(std::uint64_t); }

 private:
  LayoutPtr layout_;
  double base_per_unit_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0.0};
};

// Scrape-side merge for exposition: only what is exported (cumulative count per configured bound, total,
// sum), so a scrape of thousands of series does not copy every fine-grained bucket.
struct BucketCounts {
  LayoutPtr layout;
  std::vector<std::uint64_t> cumulative;  // per bound of `layout`, then the total (+Inf)
  double sum = 0.0;

  void add(const AtomicHistogram& h);
  void add(const BucketCounts& other);  // same bounds (merging already-merged series)
  std::uint64_t count() const noexcept { return cumulative.empty() ? 0 : cumulative.back(); }
  bool empty() const noexcept { return layout == nullptr; }
};

// Scrape-side merged copy at full resolution (for /stats quantiles): the layout of the first shard; shards with another layout (only while a reload
// is being applied) are re-binned by their bucket's lower bound.
struct HistogramData {
  LayoutPtr layout;
  std::vector<std::uint64_t> counts;
  double sum = 0.0;
  std::uint64_t total = 0;  // sum of counts, kept up to date by add()

  void add(const AtomicHistogram& h);
  void add(const HistogramData& other);
  std::uint64_t count() const noexcept { return total; }
  bool empty() const noexcept { return layout == nullptr; }
};

}  // namespace apimeter::metrics
