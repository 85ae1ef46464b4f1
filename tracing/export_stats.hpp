// The exporter's own counters, written by the exporter thread and read by the scrape: spans exported and
// dropped by reason, export requests by result and their latency. Relaxed single-writer atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace apimeter::tracing {

enum class DropReason : std::uint8_t { export_failed, rejected, shutdown, kCount };  // queue_full: SpanBuffer
enum class ExportResult : std::uint8_t { success, retryable_error, error, kCount };

// Export latency bounds, seconds (+Inf implied).
inline constexpr std::array<double, 10> kExportDurationBounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

struct ExportStats {
  std::atomic<std::uint64_t> spans_exported{0};
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(DropReason::kCount)> dropped{};
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(ExportResult::kCount)> requests{};
  std::array<std::atomic<std::uint64_t>, kExportDurationBounds.size() + 1> duration_buckets{};  // not cumulative
  std::atomic<double> duration_sum{0.0};
  std::atomic<std::uint64_t> pending_spans{0};  // taken from the workers, not yet exported or dropped

  // Exporter thread only.
  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void drop(DropReason reason, std::uint64_t n) noexcept { bump(dropped[static_cast<std::size_t>(reason)], n); }
  void request(ExportResult result, double seconds) noexcept {
    bump(requests[static_cast<std::size_t>(result)]);
    std::size_t k = 0;
    while (k < kExportDurationBounds.size() && seconds > kExportDurationBounds[k]) ++k;
    bump(duration_buckets[k]);
    duration_sum.store(duration_sum.load(std::memory_order_relaxed) + seconds, std::memory_order_relaxed);
  }
};

}  // namespace apimeter::tracing
