// Exemplars of one histogram series (OpenMetrics): per exported bucket, the trace and span of the latest
// sampled request that fell into it. Written by the series' worker, read by the scrape through a
// per-slot sequence counter, so neither side locks. The slots are allocated at the first exemplar, so
// series of a process without tracing carry one null pointer.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/trace_context.hpp"

namespace apimeter::metrics {

struct ExemplarData {
  TraceId trace_id{};
  SpanId span_id{};
  double value = 0.0;      // base units
  double timestamp = 0.0;  // unix seconds
};

class ExemplarSlots {
 public:
  ExemplarSlots() = default;
  ~ExemplarSlots() { delete[] slots_.load(std::memory_order_relaxed); }
  ExemplarSlots(const ExemplarSlots&) = delete;
  ExemplarSlots& operator=(const ExemplarSlots&) = delete;

  // Owning worker only: stores the exemplar in the bucket of `bounds` (ascending, +Inf implied) that
  // `value` falls into. Allocates once, on the series' first exemplar.
  void record(const std::vector<double>& bounds, const ExemplarData& e) noexcept {
    Slot* slots = slots_.load(std::memory_order_relaxed);
    if (slots == nullptr) {
      slots = new (std::nothrow) Slot[bounds.size() + 1];
      if (slots == nullptr) return;
      size_ = bounds.size() + 1;
      count_.store(size_, std::memory_order_relaxed);
      slots_.store(slots, std::memory_order_release);
    }
    std::size_t k = 0;
    while (k < bounds.size() && e.value > bounds[k]) ++k;
    if (k >= size_) return;  // bounds changed under a reload; the series is being replaced anyway
    Slot& s = slots[k];
    const std::uint32_t seq = s.seq.load(std::memory_order_relaxed);
    s.seq.store(seq + 1, std::memory_order_relaxed);  // odd: being written
    std::atomic_thread_fence(std::memory_order_release);
    s.trace_hi.store(load64(e.trace_id.data()), std::memory_order_relaxed);
    s.trace_lo.store(load64(e.trace_id.data() + 8), std::memory_order_relaxed);
    s.span.store(load64(e.span_id.data()), std::memory_order_relaxed);
    s.value.store(std::bit_cast<std::uint64_t>(e.value), std::memory_order_relaxed);
    s.timestamp.store(std::bit_cast<std::uint64_t>(e.timestamp), std::memory_order_relaxed);
    s.seq.store(seq + 2, std::memory_order_release);
  }

  // Any thread: the slot count (0 until the first exemplar), and a consistent copy of slot `k`; false when
  // the slot is empty or being written at this moment (the scrape then shows none for it).
  std::size_t size() const noexcept {
    return slots_.load(std::memory_order_acquire) == nullptr ? 0 : count_.load(std::memory_order_relaxed);
  }
  bool read(std::size_t k, ExemplarData& out) const noexcept {
    const Slot* slots = slots_.load(std::memory_order_acquire);
    if (slots == nullptr || k >= count_.load(std::memory_order_relaxed)) return false;
    const Slot& s = slots[k];
    const std::uint32_t before = s.seq.load(std::memory_order_acquire);
    if (before == 0 || (before & 1) != 0) return false;
    const std::uint64_t hi = s.trace_hi.load(std::memory_order_relaxed);
    const std::uint64_t lo = s.trace_lo.load(std::memory_order_relaxed);
    const std::uint64_t span = s.span.load(std::memory_order_relaxed);
    const std::uint64_t value = s.value.load(std::memory_order_relaxed);
    const std::uint64_t timestamp = s.timestamp.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.seq.load(std::memory_order_relaxed) != before) return false;
    store64(hi, out.trace_id.data());
    store64(lo, out.trace_id.data() + 8);
    store64(span, out.span_id.data());
    out.value = std::bit_cast<double>(value);
    out.timestamp = std::bit_cast<double>(timestamp);
    return true;
  }

 private:
  struct Slot {
    std::atomic<std::uint32_t> seq{0};
    std::atomic<std::uint64_t> trace_hi{0}, trace_lo{0}, span{0}, value{0}, timestamp{0};
  };
  static std::uint64_t load64(const std::uint8_t* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
    return v;
  }
  static void store64(std::uint64_t v, std::uint8_t* p) noexcept {
    for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
  }

  std::atomic<Slot*> slots_{nullptr};
  std::size_t size_ = 0;                // writer's copy
  std::atomic<std::size_t> count_{0};
};

}  // namespace apimeter::metrics
