// One worker's stat shard: everything the request path charges, written only by that worker's thread with
// relaxed load+store (no lock, no read-modify-write) and no allocation once a series exists; the scrape
// reads it concurrently through ShardView. It must not be called from any other thread, except the
// read-only accessors marked "any thread", which the registry uses at scrape time.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/request_record.hpp"
#include "metrics/extra_labels.hpp"
#include "metrics/histogram.hpp"
#include "metrics/hyperloglog.hpp"
#include "metrics/metrics_clock.hpp"
#include "metrics/metrics_settings.hpp"
#include "metrics/route_table.hpp"
#include "metrics/series_budget.hpp"
#include "metrics/shard_view.hpp"
#include "metrics/space_saving.hpp"

namespace apimeter::metrics {

// Why apimeter closed a client connection to keep room for new clients: the label values of
// apimeter_client_connections_reclaimed_total{reason}.
enum class ReclaimReason : std::uint8_t {
  idle_at_limit,            // at the cap: the connection idle the longest made room for a new one
  overload_idle_timeout,    // a keep-alive wait ended early: the idle timeout had shrunk under load
  overload_header_timeout,  // a silent or slow head ended early: the header timeout had shrunk under load
  kCount,
};
inline constexpr std::size_t kReclaimReasons = static_cast<std::size_t>(ReclaimReason::kCount);
inline constexpr std::string_view kReclaimReasonLabels[kReclaimReasons] = {
    "idle_at_limit", "overload_idle_timeout", "overload_header_timeout"};

// Bounds of apimeter_tls_handshake_duration_seconds, seconds: a local full handshake takes about a
// millisecond, a resumed one less, and client round trips add the rest.
inline constexpr double kTlsHandshakeBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,    0.25,  0.5,    1,     2.5,  5};
// The one layout of that histogram, shared by every shard so the scrape merges them exactly.
const LayoutPtr& tls_handshake_layout();

// How a TLS handshake on the listener failed: the error_type of
// apimeter_tls_handshakes_total{result="failure"}.
enum class TlsHandshakeFailure : std::uint8_t {
  timeout,                  // the client did not finish within the header timeout
  closed,                   // the client closed or reset the connection mid-handshake
  http_request,             // the client spoke cleartext HTTP to the TLS listener
  unsupported_protocol,     // no TLS version in common (older than tls.min_version, or not TLS at all)
  no_shared_cipher,         // no cipher in common
  no_application_protocol,  // ALPN offered only protocols apimeter does not serve here
  certificate_required,     // mutual TLS: the client presented no certificate
  certificate_expired,      // mutual TLS: the client's certificate has expired (or is not valid yet)
  bad_certificate,          // mutual TLS: the client's certificate does not verify against tls.client_ca_file
  peer_rejected_certificate,  // the client refused ours (unknown CA, expired, wrong name): an alert it sent
  error,                      // anything else
  kCount,
};
inline constexpr std::size_t kTlsHandshakeFailures = static_cast<std::size_t>(TlsHandshakeFailure::kCount);
inline constexpr std::string_view kTlsHandshakeFailureLabels[kTlsHandshakeFailures] = {
    "timeout",
    "closed",
    "http_request",
    "unsupported_protocol",
    "no_shared_cipher",
    "no_application_protocol",
    "certificate_required",
    "certificate_expired",
    "bad_certificate",
    "peer_rejected_certificate",
    "error"};

// The tls_protocol_version of a successful handshake (OpenTelemetry's tls.protocol.version spelling).
enum class TlsVersionLabel : std::uint8_t { tls1_2, tls1_3, other, kCount };
inline constexpr std::size_t kTlsVersionLabels = static_cast<std::size_t>(TlsVersionLabel::kCount);
inline constexpr std::string_view kTlsVersionLabelValues[kTlsVersionLabels] = {"1.2", "1.3", "other"};

class WorkerMetrics {
 public:
  // Built by MetricsRegistry. `budget` and `clock` outlive the shard.
  WorkerMetrics(std::shared_ptr<const MetricsSettings> settings, SeriesBudget& budget, const MetricsClock& clock);
  ~WorkerMetrics();
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // Worker thread, after a reload. Series whose labels and buckets persist keep their counts; the others are
  // handed to the scrape to free. Allocates (reload time only).
  void apply(std::shared_ptr<const MetricsSettings> settings);

  // Worker thread, "finish the record" (before any sink reads it): the route an exchange is charged to —
  // its configured route, else the learned template of its path (learning it within the cap), else
  // "_other" (label empty). The label stays valid until the next apply().
  ResolvedRoute resolve_route(const RequestRecord& record) noexcept;

  // Worker thread, the complete step: charges every request family from the finished record to `route`.
  // `extra_label_values` are the raw values of the configured extra labels (extract_extra_labels()), in
  // configuration order; a record whose spans are exported (record.trace.exported) also leaves exemplars on
  // the duration histograms.
  void record(const RequestRecord& record, ResolvedRoute route, std::span<const std::string_view> extra_label_values = {}) noexcept;
  // Both steps at once, for a record nothing else reads; returns the label charged (empty for "_other").
  std::string_view record(const RequestRecord& record, std::span<const std::string_view> extra_label_values = {}) noexcept {
    const ResolvedRoute route = resolve_route(record);
    this->record(record, route, extra_label_values);
    return route.label;
  }

  // Worker thread: gauges and counters outside the record.
  void request_started() noexcept { add(active_requests_, 1); }
  void request_finished() noexcept { add(active_requests_, -1); }
  void connection_opened() noexcept {
    add(active_connections_, 1);
    add(connections_total_, 1);
  }
  void connection_closed() noexcept { add(active_connections_, -1); }
  void connection_reclaimed(ReclaimReason reason) noexcept {
    add(connections_reclaimed_[static_cast<std::size_t>(reason)], 1);
  }
  // A TLS handshake on the listener ended; `nanos` runs from the connection's accept to the handshake's end.
  void tls_handshake_succeeded(TlsVersionLabel version, bool resumed, std::uint64_t nanos) noexcept {
    add(tls_handshakes_[static_cast<std::size_t>(version)], 1);
    if (resumed) add(tls_resumed_, 1);
    tls_handshake_duration_.observe(nanos);
  }
  // A TLS handshake with an upstream succeeded (its failures are upstream connect errors).
  void upstream_tls_handshake(TlsVersionLabel version, bool resumed) noexcept {
    add(upstream_tls_handshakes_[static_cast<std::size_t>(version)], 1);
    if (resumed) add(upstream_tls_resumed_, 1);
  }
  void tls_handshake_failed(TlsHandshakeFailure failure) noexcept {
    add(tls_handshake_failures_[static_cast<std::size_t>(failure)], 1);
  }
  void upstream_pool(std::size_t idle, std::size_t in_use) noexcept {
    pool_idle_.store(idle, std::memory_order_relaxed);
    pool_in_use_.store(in_use, std::memory_order_relaxed);
  }
  void upstream_connect_error(std::string_view type) noexcept;
  // Per-user in-flight requests, for users the shard's heavy-hitter sketch monitors. Keep the token with the
  // request and hand it back at the end; a user evicted in between is simply not decremented.
  UserToken user_started(std::string_view user) noexcept;
  void user_finished(UserToken token) noexcept;

  // --- Any thread (scrape side) ---
  ShardView* current_view() const noexcept { return view_.load(std::memory_order_acquire); }
  std::int64_t active_requests() const noexcept { return active_requests_.load(std::memory_order_relaxed); }
  std::int64_t active_connections() const noexcept { return active_connections_.load(std::memory_order_relaxed); }
  std::uint64_t connections_total() const noexcept { return connections_total_.load(std::memory_order_relaxed); }
  std::uint64_t connections_reclaimed(ReclaimReason reason) const noexcept {
    return connections_reclaimed_[static_cast<std::size_t>(reason)].load(std::memory_order_relaxed);
  }
  std::uint64_t tls_handshakes(TlsVersionLabel version) const noexcept {
    return tls_handshakes_[static_cast<std::size_t>(version)].load(std::memory_order_relaxed);
  }
  std::uint64_t tls_handshake_failures(TlsHandshakeFailure failure) const noexcept {
    return tls_handshake_failures_[static_cast<std::size_t>(failure)].load(std::memory_order_relaxed);
  }
  std::uint64_t tls_resumed() const noexcept { return tls_resumed_.load(std::memory_order_relaxed); }
  std::uint64_t upstream_tls_handshakes(TlsVersionLabel version) const noexcept {
    return upstream_tls_handshakes_[static_cast<std::size_t>(version)].load(std::memory_order_relaxed);
  }
  std::uint64_t upstream_tls_resumed() const noexcept {
    return upstream_tls_resumed_.load(std::memory_order_relaxed);
  }
  const AtomicHistogram& tls_handshake_duration() const noexcept { return tls_handshake_duration_; }
  std::uint64_t pool_idle() const noexcept { return pool_idle_.load(std::memory_order_relaxed); }
  std::uint64_t pool_in_use() const noexcept { return pool_in_use_.load(std::memory_order_relaxed); }
  std::uint64_t series_dropped() const noexcept { return series_dropped_.load(std::memory_order_relaxed); }
  std::uint64_t anonymous_requests() const noexcept { return anonymous_.load(std::memory_order_relaxed); }
  std::uint64_t identified_requests() const noexcept { return identified_.load(std::memory_order_relaxed); }
  const WindowedHyperLogLog& recent_users() const noexcept { return recent_users_; }
  template <typename F>
  void for_each_connect_error(F&& f) const {
    const std::size_t n = connect_error_count_.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < n; ++i) f(std::string_view(connect_errors_[i].type), connect_errors_[i].count.load(std::memory_order_relaxed));
    f(std::string_view("_other"), connect_errors_.back().count.load(std::memory_order_relaxed));
  }
  // Rough heap footprint of the shard's series (for tests and the memory figures in the README).
  std::size_t series_memory_bytes() const noexcept;

 private:
  template <typename T, typename D>
  static void add(std::atomic<T>& a, D d) noexcept {
    a.store(static_cast<T>(a.load(std::memory_order_relaxed) + d), std::memory_order_relaxed);
  }
  struct RequestKeyHash {
    std::size_t operator()(const RequestKey& k) const noexcept;
  };
  struct ConnectError {
    std::string type;
    std::atomic<std::uint64_t> count{0};
  };

  void configure(const MetricsSettings& s);
  const LayoutPtr& duration_layout(std::uint32_t route) const noexcept;
  std::uint8_t error_index(std::string_view error_type) noexcept;
  RequestSeries* request_series(const RequestKey& key) noexcept;
  RouteSeries* route_series(std::uint32_t route) noexcept;

  std::shared_ptr<const MetricsSettings> settings_;
  SeriesBudget& budget_;
  const MetricsClock& clock_;

  RouteTable routes_;
  LayoutPtr default_duration_layout_;
  LayoutPtr size_layout_;
  std::vector<LayoutPtr> route_duration_layouts_;  // by configured route index (null: default)
  std::vector<std::string> error_types_;           // index 1.. (0: none, 255: "_other")
  std::vector<ExtraLabelValuesIndex> extra_labels_;

  std::unordered_map<RequestKey, RequestSeries*, RequestKeyHash> request_index_;
  std::unordered_map<std::uint32_t, RouteSeries*> route_index_;
  std::vector<std::unique_ptr<RequestSeries>> request_series_;
  std::vector<std::unique_ptr<RouteSeries>> route_series_;
  std::unique_ptr<SpaceSaving> users_;
  ShardView* view_plain_ = nullptr;  // the writer's copy of view_
  std::atomic<ShardView*> view_{nullptr};

  WindowedHyperLogLog recent_users_;
  std::array<ConnectError, kMaxConnectErrorTypes + 1> connect_errors_;  // last: "_other"
  std::size_t connect_error_plain_ = 0;
  std::atomic<std::size_t> connect_error_count_{0};

  std::atomic<std::int64_t> active_requests_{0};
  std::atomic<std::int64_t> active_connections_{0};
  std::atomic<std::uint64_t> connections_total_{0};
  std::array<std::atomic<std::uint64_t>, kReclaimReasons> connections_reclaimed_{};
  std::array<std::atomic<std::uint64_t>, kTlsVersionLabels> tls_handshakes_{};
  std::array<std::atomic<std::uint64_t>, kTlsHandshakeFailures> tls_handshake_failures_{};
  std::atomic<std::uint64_t> tls_resumed_{0};
  std::array<std::atomic<std::uint64_t>, kTlsVersionLabels> upstream_tls_handshakes_{};
  std::atomic<std::uint64_t> upstream_tls_resumed_{0};
  AtomicHistogram tls_handshake_duration_;  // fixed bounds (kTlsHandshakeBuckets): not a configured family
  std::atomic<std::uint64_t> pool_idle_{0};
  std::atomic<std::uint64_t> pool_in_use_{0};
  std::atomic<std::uint64_t> series_dropped_{0};
  std::atomic<std::uint64_t> anonymous_{0};
  std::atomic<std::uint64_t> identified_{0};  // monotonic, unlike a sketch's total (sketches are replaced)
};

}  // namespace apimeter::metrics
