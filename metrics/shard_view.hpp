// What one worker publishes to the scrape: its series objects and the append-only lists that reach them,
// grouped in a view per settings generation. The worker appends and retires; the scrape reads, and frees what
// a newer view retired (the scrape is then the only thread that could still see it). Nothing here locks.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/http_method.hpp"
#include "common/http_version.hpp"
#include "metrics/exemplar_slots.hpp"
#include "metrics/histogram.hpp"
#include "metrics/metrics_settings.hpp"
#include "metrics/space_saving.hpp"

namespace apimeter::metrics {

// Append-only list of pointers: one writer, any number of readers. Items appended before a reader's acquire
// load of the size are visible to it; chunks are never moved, so growth never invalidates a reader.
template <typename T>
class PublishedList {
 public:
  PublishedList() = default;
  PublishedList(const PublishedList&) = delete;
  PublishedList& operator=(const PublishedList&) = delete;
  ~PublishedList() {
    for (Chunk* c = head_.next.load(std::memory_order_relaxed); c != nullptr;) {
      Chunk* next = c->next.load(std::memory_order_relaxed);
      delete c;
      c = next;
    }
  }

  // Writer only; allocates one chunk per kChunk items.
  void push(T* item) {
    const std::size_t n = size_plain_;
    if (n > 0 && n % kChunk == 0) {
      auto* chunk = new Chunk;
      tail_->next.store(chunk, std::memory_order_release);
      tail_ = chunk;
    }
    tail_->items[n % kChunk] = item;
    size_.store(++size_plain_, std::memory_order_release);
  }

  // Any thread.
  template <typename F>
  void for_each(F&& f) const {
    const std::size_t n = size_.load(std::memory_order_acquire);
    const Chunk* c = &head_;
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0 && i % kChunk == 0) c = c->next.load(std::memory_order_acquire);
      f(*c->items[i % kChunk]);
    }
  }
  std::size_t size() const noexcept { return size_.load(std::memory_order_acquire); }

 private:
  static constexpr std::size_t kChunk = 128;
  struct Chunk {
    T* items[kChunk];
    std::atomic<Chunk*> next{nullptr};
  };
  Chunk head_;
  Chunk* tail_ = &head_;
  std::size_t size_plain_ = 0;
  std::atomic<std::size_t> size_{0};
};

// Writer-side identity of a request series: small integers only, so lookups never build strings.
struct RequestKey {
  std::uint32_t route = 0;
  std::uint16_t status = 0;
  HttpMethod method = HttpMethod::other;
  std::uint8_t error = 0;
  HttpVersion version = HttpVersion::http1_1;
  std::array<std::uint8_t, kMaxExtraLabels> extra{};
  bool operator==(const RequestKey&) const = default;
};

// Label values of a request series, immutable once published.
struct RequestLabels {
  std::string route;
  bool learned = false;  // an automatically learned template (capped again at scrape)
  HttpMethod method = HttpMethod::other;
  HttpVersion version = HttpVersion::http1_1;  // network_protocol_version
  std::uint16_t status = 0;  // 0: no response was sent (the label is left off)
  std::string error_type;    // empty unless the proxy answered or failed the exchange itself
  std::array<std::string, kMaxExtraLabels> extra;  // empty: absent
};

// Families keyed by (route, method, protocol version, status, error_type, extra labels).
struct RequestSeries {
  RequestSeries(RequestKey k, RequestLabels l, const LayoutPtr& duration_layout, double created_at)
      : key(k), labels(std::move(l)), created(created_at), duration(duration_layout) {}
  RequestKey key;  // writer only (its route id is renumbered on reload)
  const RequestLabels labels;
  const double created;  // unix seconds
  AtomicHistogram duration;
  ExemplarSlots duration_exemplars;  // server span of sampled requests
  std::atomic<std::uint64_t> received_bytes{0};
  std::atomic<std::uint64_t> sent_bytes{0};
};

// Families keyed by route alone: the latency breakdown and body sizes (method and status are on the
// request families; five histograms per route and method would double the exposition for little gain).
struct RouteSeries {
  RouteSeries(std::uint32_t k, std::string r, bool l, double created_at, const LayoutPtr& duration_layout,
              const LayoutPtr& size_layout)
      : key(k), route(std::move(r)), learned(l), created(created_at),
        upstream_duration(duration_layout), time_to_first_byte(duration_layout), overhead(duration_layout),
        request_body(size_layout), response_body(size_layout) {}
  std::uint32_t key;  // writer only: the route id (renumbered on reload)
  const std::string route;
  const bool learned;
  const double created;
  AtomicHistogram upstream_duration;
  ExemplarSlots upstream_exemplars;  // client span of sampled requests
  AtomicHistogram time_to_first_byte;
  AtomicHistogram overhead;
  AtomicHistogram request_body;
  AtomicHistogram response_body;
};

// One settings generation of a worker's series.
struct ShardView {
  std::shared_ptr<const MetricsSettings> settings;
  PublishedList<RequestSeries> requests;
  PublishedList<RouteSeries> routes;
  SpaceSaving* users = nullptr;  // owned by the worker; null when no identity source is configured

  // Handed over to the scrape with this view: freed by the first scrape that loads it.
  std::unique_ptr<ShardView> previous;
  std::vector<std::unique_ptr<RequestSeries>> retired_requests;
  std::vector<std::unique_ptr<RouteSeries>> retired_routes;
  std::unique_ptr<SpaceSaving> retired_users;
};

}  // namespace apimeter::metrics
