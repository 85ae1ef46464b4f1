// The process's metrics: owns one WorkerMetrics shard per worker and, on the control thread, merges them
// at scrape time into prometheus-cpp MetricFamily (a Collectable) plus the OpenMetrics extras, /stats JSON
// and the /routes report. A scrape takes only this object's own lock, which no worker ever takes, so it
// never blocks a worker. Must not be used from a worker thread except through worker(i).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/collectable.h>

#include "common/request_record.hpp"
#include "metrics/admission.hpp"
#include "metrics/exposition.hpp"
#include "metrics/metrics_clock.hpp"
#include "metrics/metrics_settings.hpp"
#include "metrics/series_budget.hpp"
#include "metrics/stats_window.hpp"
#include "metrics/top_users_export.hpp"
#include "metrics/worker_metrics.hpp"

namespace apimeter::metrics {

// The span exporter's own counters, as the scrape needs them (tracing/ fills it through proxy/).
struct TracingExportSample {
  std::uint64_t spans_exported = 0;
  std::uint64_t dropped_queue_full = 0, dropped_export_failed = 0, dropped_rejected = 0, dropped_shutdown = 0;
  std::uint64_t requests_success = 0, requests_retryable = 0, requests_error = 0;
  std::vector<double> duration_bounds;         // seconds, ascending
  std::vector<std::uint64_t> duration_buckets;  // per bound, then +Inf; not cumulative
  double duration_sum = 0.0;
  std::uint64_t queued = 0;
  bool enabled = false;  // tracing on in the configuration in force
};

// One upstream endpoint's counters, as /stats shows them (proxy/ fills it from its snapshot).
struct UpstreamEndpointSample {
  std::string endpoint;  // "127.0.0.1:3000"
  std::string upstream;  // the configured upstream it resolved from
  std::uint64_t attempts = 0, connects = 0, connect_errors = 0;
};

// The TLS listener as the scrape needs it (proxy/ fills it from its snapshot).
struct TlsSample {
  bool listener = false;             // the configuration in force serves TLS
  double certificate_not_after = 0;  // unix seconds: notAfter of the certificate served
  bool upstream = false;             // the configuration in force reaches the upstreams over TLS
};

// The /stats document's version: bumped when a field changes meaning or goes away (adding one does not).
inline constexpr std::uint64_t kStatsVersion = 2;

class MetricsRegistry : public prometheus::Collectable {
 public:
  // `settings` must not be null. The clock is injectable for tests.
  MetricsRegistry(unsigned workers, BuildInfo build, std::shared_ptr<const MetricsSettings> settings,
                  MetricsClock clock = {});
  ~MetricsRegistry() override;  // only after every worker thread has stopped using its shard
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The shard of worker `index`, for that worker's thread only.
  WorkerMetrics& worker(unsigned index) { return *workers_.at(index); }
  unsigned worker_count() const noexcept { return static_cast<unsigned>(workers_.size()); }

  // Control thread, on reload: the scrape side adopts `settings` (service, caps, K, hashing); then post
  // worker(i).apply(settings) to each worker so the shards follow.
  void apply(std::shared_ptr<const MetricsSettings> settings);
  void reload_succeeded();
  void reload_failed();
  // Control thread: where the apimeter_tracing_* families come from; called on every scrape.
  void set_tracing_source(std::function<TracingExportSample()> source);
  // Control thread: where apimeter_access_log_lines_dropped_total comes from; called on every scrape.
  void set_access_log_source(std::function<std::uint64_t()> dropped_lines);
  // Control thread: the TLS listener's served certificate; called on every scrape.
  void set_tls_source(std::function<TlsSample()> source);
  // Control thread: the upstream endpoints /stats lists; called on every /stats request.
  void set_upstream_source(std::function<std::vector<UpstreamEndpointSample>()> source);
  // Any thread, at start and on reload: limits.max_client_connections (0 = unlimited), exported as
  // apimeter_client_connections_limit so alerts can compare the open connections against it.
  void set_connection_limit(std::uint64_t limit) { connection_limit_.store(limit, std::memory_order_relaxed); }

  // Any thread: client connections closed to keep room for new ones, over all workers and reasons.
  std::uint64_t connections_reclaimed() const noexcept {
    std::uint64_t n = 0;
    for (const auto& w : workers_)
      for (std::size_t r = 0; r < kReclaimReasons; ++r) n += w->connections_reclaimed(static_cast<ReclaimReason>(r));
    return n;
  }

  // Control thread (any thread that is not a worker). Each call merges all shards.
  std::vector<prometheus::MetricFamily> Collect() const override;
  Exposition collect_exposition() const;
  // /routes: configured routes and learned templates with request counts, learned ones as YAML route
  // entries that can be pasted into the config.
  std::string routes_report() const;
  // /stats (the README documents it): totals, per-route live rate, 5xx ratio, bytes and p50/p95/p99 over
  // the last minute, top users with their rates, connections, upstream endpoints, series and tracing health.
  std::string stats_json(Clock::time_point now) const;
  // Every 5-10 s from the control thread: a snapshot for the last-minute window of /stats.
  void tick(Clock::time_point now);

 private:
  struct Merged;
  Merged merge(Clock::time_point now) const;  // mutex_ held
  StatsSnapshot snapshot_of(const Merged& merged, Clock::time_point at) const;

  MetricsClock clock_;  // before workers_: they keep a reference
  BuildInfo build_;
  SeriesBudget budget_;
  std::vector<std::unique_ptr<WorkerMetrics>> workers_;
  double start_wall_;
  Clock::time_point start_steady_;

  mutable std::mutex mutex_;  // scrape-side state below; never taken by a worker
  std::shared_ptr<const MetricsSettings> settings_;
  mutable Admission learned_routes_;
  mutable std::vector<Admission> extra_values_;
  mutable TopUsersExport users_;
  StatsWindow window_;
  std::function<TracingExportSample()> tracing_source_;
  std::function<std::uint64_t()> access_log_source_;
  std::function<std::vector<UpstreamEndpointSample>()> upstream_source_;
  std::function<TlsSample()> tls_source_;
  std::atomic<std::uint64_t> connection_limit_{0};

  std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
  std::atomic<double> last_reload_ok_;
};

}  // namespace apimeter::metrics
