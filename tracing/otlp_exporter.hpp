// The exporter thread: takes encoded spans from every worker's SpanBuffer, batches them (size and delay),
// POSTs OTLP/HTTP protobuf to the collector, retries 429/502/503/504 and connection failures with
// exponential backoff and jitter (honouring Retry-After), never retries other statuses. Workers never
// wait on it: when it falls behind, their buffers fill and drop. Shutdown flushes within a deadline.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tracing/export_stats.hpp"
#include "tracing/exporter_settings.hpp"
#include "tracing/otlp_http_client.hpp"
#include "tracing/span_buffer.hpp"

namespace apimeter::tracing {

class OtlpExporter {
 public:
  // One SpanBuffer per worker, owned here; `version` goes into the scope and the User-Agent.
  OtlpExporter(unsigned workers, std::size_t ring_bytes_per_worker, std::string version);
  ~OtlpExporter();
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  SpanBuffer& buffer(unsigned worker) { return *buffers_.at(worker); }

  // Any thread, before or after start(): later batches use these settings.
  void configure(ExporterSettings settings);
  // Called from the exporter thread when exports start failing and when they recover.
  void set_reporter(std::function<void(std::string_view message, bool failing)> reporter);
  void start();
  // Exports what is queued until `timeout` has passed, then stops the thread; what is left is dropped
  // and counted with reason "shutdown". Idempotent.
  void shutdown(std::chrono::milliseconds timeout);

  // Any thread (scrape).
  const ExportStats& stats() const noexcept { return stats_; }
  std::uint64_t dropped_queue_full() const noexcept;
  std::uint64_t queued_spans() const noexcept;  // in worker buffers and in the batch being sent

 private:
  using SteadyClock = std::chrono::steady_clock;
  void run();
  void collect();  // worker buffers -> pending_, while pending_ is under one batch
  void export_batch(SteadyClock::time_point give_up);
  void drop_pending(std::size_t spans, DropReason reason);
  void report(std::string_view message, bool failing);
  // Sleeps until `until` or a stop request, collecting meanwhile; false if stopping was requested.
  bool wait_until(SteadyClock::time_point until);

  std::vector<std::unique_ptr<SpanBuffer>> buffers_;
  std::string version_;
  ExportStats stats_;

  std::mutex mutex_;  // settings_, stopping_, reporter_; never taken by a worker
  std::condition_variable wake_;
  ExporterSettings settings_;
  bool settings_changed_ = true;
  bool stopping_ = false;
  SteadyClock::time_point stop_deadline_{};
  std::function<void(std::string_view, bool)> reporter_;
  std::thread thread_;

  // Exporter thread only.
  ExporterSettings active_;
  std::string resource_;
  std::string pending_;  // framed spans taken from the workers, oldest first
  std::size_t pending_spans_ = 0;
  OtlpHttpClient client_;
  std::minstd_rand jitter_{std::random_device{}()};
  bool failing_ = false;
};

}  // namespace apimeter::tracing
