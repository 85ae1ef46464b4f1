// One worker's queue of finished spans on their way to the exporter thread: encoded spans in a lock-free
// SPSC byte ring, with a cap on queued spans. A full queue drops and counts; the worker never waits.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/spsc_byte_ring.hpp"

namespace apimeter::tracing {

class SpanBuffer {
 public:
  SpanBuffer(std::size_t ring_bytes, std::size_t max_spans) : ring_(ring_bytes), max_spans_(max_spans) {}

  // Worker thread: queues `span_count` framed spans (span_encoder's output) as a whole, or drops them.
  bool submit(std::string_view framed, std::size_t span_count) noexcept {
    const std::uint64_t queued = pushed_.load(std::memory_order_relaxed) - drained_.load(std::memory_order_acquire);
    if (queued + span_count > max_spans_.load(std::memory_order_relaxed) || !ring_.push(framed)) {
      dropped_.store(dropped_.load(std::memory_order_relaxed) + span_count, std::memory_order_relaxed);
      return false;
    }
    pushed_.store(pushed_.load(std::memory_order_relaxed) + span_count, std::memory_order_release);
    return true;
  }

  // Exporter thread: appends the queued frames to `out`; the caller reports how many spans it took.
  std::size_t drain_into(std::string& out) { return ring_.drain_into(out); }
  void drained(std::uint64_t spans) noexcept {
    drained_.store(drained_.load(std::memory_order_relaxed) + spans, std::memory_order_release);
  }

  void set_max_spans(std::size_t max_spans) noexcept { max_spans_.store(max_spans, std::memory_order_relaxed); }
  // Any thread.
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t queued() const noexcept {
    const std::uint64_t drained = drained_.load(std::memory_order_acquire);
    const std::uint64_t pushed = pushed_.load(std::memory_order_acquire);
    return pushed > drained ? pushed - drained : 0;
  }

 private:
  SpscByteRing ring_;
  std::atomic<std::size_t> max_spans_;
  std::atomic<std::uint64_t> pushed_{0};   // written by the worker
  std::atomic<std::uint64_t> dropped_{0};  // written by the worker
  std::atomic<std::uint64_t> drained_{0};  // written by the exporter
};

}  // namespace apimeter::tracing
