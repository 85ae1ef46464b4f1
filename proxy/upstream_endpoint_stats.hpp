// Per-endpoint upstream counters behind /stats' "upstream_endpoints": one cache-line slot per worker, each
// written only by its worker (relaxed load+store, no read-modify-write) and summed by the control thread.
// Owned by the snapshot's endpoint and handed on to the next snapshot's endpoint of the same name on reload.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace apimeter {

class UpstreamEndpointStats {
 public:
  struct Totals {
    std::uint64_t attempts = 0;        // exchanges sent towards the endpoint (pooled or new connection)
    std::uint64_t connects = 0;        // new connections opened
    std::uint64_t connect_errors = 0;  // connects refused, unreachable or timed out
  };

  explicit UpstreamEndpointStats(unsigned workers) : workers_(workers ? workers : 1), slots_(new Slot[workers_]) {}

  // Worker `worker`'s thread only.
  void attempt(unsigned worker) noexcept { bump(slots_[worker].attempts); }
  void connect(unsigned worker) noexcept { bump(slots_[worker].connects); }
  void connect_error(unsigned worker) noexcept { bump(slots_[worker].connect_errors); }

  // Any thread: the sum over the workers.
  Totals totals() const noexcept {
    Totals t;
    for (unsigned i = 0; i < workers_; ++i) {
      t.attempts += slots_[i].attempts.load(std::memory_order_relaxed);
      t.connects += slots_[i].connects.load(std::memory_order_relaxed);
      t.connect_errors += slots_[i].connect_errors.load(std::memory_order_relaxed);
    }
    return t;
  }
  unsigned workers() const noexcept { return workers_; }

 private:
  struct alignas(64) Slot {
    std::atomic<std::uint64_t> attempts{0}, connects{0}, connect_errors{0};
  };
  static void bump(std::atomic<std::uint64_t>& a) noexcept {
    a.store(a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  unsigned workers_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace apimeter
