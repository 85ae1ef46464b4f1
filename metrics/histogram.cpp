// Layout construction (config load), bucket lookup (request path: a few shifts and at most a couple of
// compares) and re-bucketing / quantiles (scrape). See histogram.hpp for the exactness argument.
#include "metrics/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace apimeter::metrics {

std::size_t LogLinearScale::index(std::uint64_t v) const noexcept {
  if (v < (std::uint64_t{1} << min_exp)) return static_cast<std::size_t>(v >> (min_exp - sub_bits));
  unsigned e = 63u - static_cast<unsigned>(std::countl_zero(v));
  if (e >= max_exp) return bucket_count() - 1;
  std::size_t octave = e - min_exp + 1;
  std::size_t sub = static_cast<std::size_t>(v >> (e - sub_bits)) & ((std::size_t{1} << sub_bits) - 1);
  return (octave << sub_bits) + sub;
}

std::uint64_t LogLinearScale::lower(std::size_t i) const noexcept {
  const std::size_t per = std::size_t{1} << sub_bits;
  if (i < per) return static_cast<std::uint64_t>(i) << (min_exp - sub_bits);
  if (i >= bucket_count() - 1) return std::uint64_t{1} << max_exp;
  std::size_t octave = i >> sub_bits;
  unsigned e = min_exp + static_cast<unsigned>(octave) - 1;
  std::uint64_t mantissa = per + (i & (per - 1));
  return mantissa << (e - sub_bits);
}

std::uint64_t bound_threshold(double bound, double units_per_base) noexcept {
  double x = bound * units_per_base;
  if (!(x < 1.8e19)) return std::numeric_limits<std::uint64_t>::max();
  if (x <= 0) return 0;
  // Configured bounds like 0.1 s are not exact in binary; snap to the integer they obviously mean.
  double r = std::nearbyint(x);
  if (std::fabs(x - r) <= 1e-9 * std::max(1.0, x)) return static_cast<std::uint64_t>(r);
  return static_cast<std::uint64_t>(std::floor(x));
}

HistogramLayout::HistogramLayout(LogLinearScale scale, double units_per_base, std::vector<double> bounds)
    : scale_(scale), units_per_base_(units_per_base) {
  std::erase_if(bounds, [](double b) { return !std::isfinite(b) || b < 0; });
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  bounds_ = std::move(bounds);

  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  std::vector<std::uint64_t> ends;  // threshold + 1 per bound, kMax when beyond every value
  ends.reserve(bounds_.size());
  for (double b : bounds_) {
    std::uint64_t t = bound_threshold(b, units_per_base_);
    std::uint64_t end = t == kMax ? kMax : t + 1;
    ends.push_back(end);
    if (end != kMax && scale_.lower(scale_.index(end)) != end) splits_.push_back(end);
  }
  std::sort(splits_.begin(), splits_.end());
  splits_.erase(std::unique(splits_.begin(), splits_.end()), splits_.end());

  const std::size_t n = scale_.bucket_count();
  first_part_.reserve(n + 1);
  lower_.reserve(n + splits_.size());
  std::size_t s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    first_part_.push_back(static_cast<std::uint32_t>(lower_.size()));
    lower_.push_back(scale_.lower(i));
    while (s < splits_.size() && scale_.index(splits_[s]) == i) lower_.push_back(splits_[s++]);
  }
  first_part_.push_back(static_cast<std::uint32_t>(lower_.size()));

  bound_end_.reserve(ends.size());
  for (std::uint64_t end : ends)
    bound_end_.push_back(end == kMax ? static_cast<std::uint32_t>(lower_.size()) : static_cast<std::uint32_t>(index(end)));
}

std::size_t HistogramLayout::index(std::uint64_t v) const noexcept {
  std::size_t i = scale_.index(v);
  std::uint32_t f = first_part_[i];
  const std::uint32_t parts = first_part_[i + 1] - f;
  // The splits of scale bucket i sit at splits_[f - i ...]: one entry per part beyond the first.
  const std::uint64_t* split = splits_.data() + (f - i);
  for (std::uint32_t k = 1; k < parts && v >= split[k - 1]; ++k) ++f;
  return f;
}

std::uint64_t HistogramLayout::upper(std::size_t bucket) const noexcept {
  return bucket + 1 < lower_.size() ? lower_[bucket + 1] : std::numeric_limits<std::uint64_t>::max();
}

bool HistogramLayout::same_as(const HistogramLayout& other) const noexcept {
  return this == &other || (scale_ == other.scale_ && units_per_base_ == other.units_per_base_ && bounds_ == other.bounds_);
}

void HistogramLayout::cumulative_at_bounds(std::span<const std::uint64_t> counts,
                                           std::span<std::uint64_t> out) const noexcept {
  std::uint64_t running = 0;
  std::size_t j = 0;
  for (std::size_t k = 0; k < bound_end_.size() && k < out.size(); ++k) {
    for (; j < bound_end_[k] && j < counts.size(); ++j) running += counts[j];
    out[k] = running;
  }
}

double HistogramLayout::quantile(std::span<const std::uint64_t> counts, double q) const noexcept {
  std::uint64_t total = 0;
  for (auto c : counts) total += c;
  if (total == 0) return std::numeric_limits<double>::quiet_NaN();
  q = std::clamp(q, 0.0, 1.0);
  const double target = std::max(q * static_cast<double>(total), 1e-9);
  double before = 0;
  for (std::size_t j = 0; j < counts.size(); ++j) {
    if (counts[j] == 0) continue;
    double after = before + static_cast<double>(counts[j]);
    if (after >= target) {
      double lo = static_cast<double>(lower_[j]);
      if (j + 1 >= lower_.size()) return lo / units_per_base_;  // overflow bucket: its lower bound
      double hi = static_cast<double>(lower_[j + 1]);
      double frac = (target - before) / static_cast<double>(counts[j]);
      return (lo + frac * (hi - lo)) / units_per_base_;
    }
    before = after;
  }
  return static_cast<double>(lower_.back()) / units_per_base_;
}

AtomicHistogram::AtomicHistogram(LayoutPtr layout)
    : layout_(std::move(layout)),
      base_per_unit_(1.0 / layout_->units_per_base()),
      counts_(new std::atomic<std::uint64_t>[layout_->bucket_count()]) {
  for (std::size_t i = 0; i < layout_->bucket_count(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

double AtomicHistogram::add_to(std::span<std::uint64_t> counts, std::uint64_t& total) const noexcept {
  const std::size_t n = std::min(counts.size(), layout_->bucket_count());
  std::uint64_t added = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t c = counts_[i].load(std::memory_order_relaxed);
    counts[i] += c;
    added += c;
  }
  total += added;
  return sum_.load(std::memory_order_relaxed);
}

double AtomicHistogram::add_cumulative(const HistogramLayout& target, std::span<std::uint64_t> out) const noexcept {
  const std::size_t n = layout_->bucket_count();
  const std::size_t bounds = target.bounds().size();
  if (out.size() < bounds + 1) return 0;
  if (&target == layout_.get() || target.same_as(*layout_)) {
    const auto& ends = layout_->bound_ends();
    std::uint64_t running = 0;
    std::size_t j = 0;
    for (std::size_t k = 0; k < bounds; ++k) {
      for (; j < ends[k]; ++j) running += counts_[j].load(std::memory_order_relaxed);
      out[k] += running;
    }
    for (; j < n; ++j) running += counts_[j].load(std::memory_order_relaxed);
    out[bounds] += running;
    return sum_.load(std::memory_order_relaxed);
  }
  const double scale = target.units_per_base() / layout_->units_per_base();
  for (std::size_t j = 0; j < n; ++j) {
    const std::uint64_t c = counts_[j].load(std::memory_order_relaxed);
    if (c == 0) continue;
    const double lower = static_cast<double>(layout_->lower(j)) * scale;
    for (std::size_t k = 0; k < bounds; ++k)
      if (lower <= static_cast<double>(bound_threshold(target.bounds()[k], target.units_per_base()))) out[k] += c;
    out[bounds] += c;
  }
  return sum_.load(std::memory_order_relaxed);
}

void BucketCounts::add(const AtomicHistogram& h) {
  if (!layout) {
    layout = h.layout();
    cumulative.assign(layout->bounds().size() + 1, 0);
  }
  sum += h.add_cumulative(*layout, cumulative);
}

void BucketCounts::add(const BucketCounts& other) {
  if (other.empty()) return;
  if (!layout) {
    *this = other;
    return;
  }
  sum += other.sum;
  for (std::size_t k = 0; k < cumulative.size() && k < other.cumulative.size(); ++k) cumulative[k] += other.cumulative[k];
}

void HistogramData::add(const AtomicHistogram& h) {
  if (!layout) {
    layout = h.layout();
    counts.assign(layout->bucket_count(), 0);
  }
  if (layout->same_as(*h.layout())) {
    sum += h.add_to(counts, total);
    return;
  }
  HistogramData other;
  other.add(h);
  add(other);
}

void HistogramData::add(const HistogramData& other) {
  if (other.empty()) return;
  if (!layout) {
    *this = other;
    return;
  }
  sum += other.sum;
  total += other.total;
  if (layout->same_as(*other.layout)) {
    for (std::size_t i = 0; i < counts.size() && i < other.counts.size(); ++i) counts[i] += other.counts[i];
    return;
  }
  // Different buckets (a reload in flight): re-bin each bucket at its lower bound, in our units.
  const double scale = layout->units_per_base() / other.layout->units_per_base();
  for (std::size_t j = 0; j < other.counts.size(); ++j) {
    if (other.counts[j] == 0) continue;
    auto v = static_cast<std::uint64_t>(static_cast<double>(other.layout->lower(j)) * scale);
    counts[layout->index(v)] += other.counts[j];
  }
}


}  // namespace apimeter::metrics
