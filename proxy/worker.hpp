// One worker: a thread running one single-threaded io_context with its own SO_REUSEPORT acceptor, upstream
// pool, buffer pool and connection list. Everything here runs on the worker's thread except the post_*
// functions and the relaxed counters, which other threads may call and read.
#pragma once

#include <array>
#include <atomic>
#include <span>
#include <boost/intrusive/list.hpp>
#include <cstdint>
#include <memory>
#include <thread>

#include "common/asio_types.hpp"
#include "common/request_record.hpp"
#include "metrics/extra_labels.hpp"
#include "metrics/worker_metrics.hpp"
#include "proxy/access_log.hpp"
#include "proxy/buffer_pool.hpp"
#include "proxy/overload.hpp"
#include "proxy/snapshot.hpp"
#include "proxy/tls/tls_session_cache.hpp"
#include "proxy/upstream_pool.hpp"
#include "tracing/worker_tracer.hpp"

namespace apimeter {

class DownstreamConnection;
using ConnectionHook = boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;
// Membership of the worker's idle list: connections with no request in flight, the longest idle first.
struct IdleListTag;
using IdleHook = boost::intrusive::list_base_hook<boost::intrusive::tag<IdleListTag>,
                                                  boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

class Worker {
 public:
  Worker(unsigned index, unsigned worker_count, SnapshotPtr snapshot, AccessLogWriter& log, metrics::WorkerMetrics& metrics,
         tracing::SpanBuffer& spans);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Opens the listener (main thread, before start). Returns the bound endpoint.
  tcp::endpoint listen(const tcp::endpoint& address, ErrorCode& ec);
  void start();  // spawns the thread
  void join();

  // Thread-safe: hand work to the worker's thread.
  void post_snapshot(SnapshotPtr snapshot);
  void post_begin_drain();     // from now on every response closes its connection
  void post_stop_accepting();  // close the listener and idle connections
  void post_stop();            // close everything and end the thread

  // Relaxed read for the control thread (drain).
  std::size_t open_connections() const noexcept { return open_connections_.load(std::memory_order_relaxed); }
  // A client connection's header or idle timeout, shrunk as this worker's connections near its share of the
  // cap (proxy/overload.hpp).
  Duration client_timeout(Duration configured, Duration floor) const noexcept {
    return scaled_client_timeout(configured, floor, open_connections(), max_connections_,
                                 snapshot_->config.limits.overload_start);
  }

  // Worker-thread API for connections.
  asio::io_context& io() noexcept { return io_; }
  const SnapshotPtr& snapshot() const noexcept { return snapshot_; }
  BufferPool& buffers() noexcept { return buffers_; }
  // An HTTP/2 stream's request body buffer: one stream window (defaults::kHttp2StreamWindowBytes).
  BufferPool& stream_body_buffers() noexcept { return stream_body_buffers_; }
  UpstreamPool& upstreams() noexcept { return upstreams_; }
  TlsSessionCache& upstream_tls_sessions() noexcept { return upstream_tls_sessions_; }
  bool draining() const noexcept { return draining_; }
  bool stopped_accepting() const noexcept { return stopping_; }
  // Start of the next request's walk over the upstream endpoints (round robin per worker).
  std::size_t next_round_robin() noexcept { return round_robin_++; }
  void request_started() noexcept { metrics_.request_started(); }
  void request_finished() noexcept { metrics_.request_finished(); }
  // The one place an exchange is accounted for: finish_record(), then the sinks (metrics, access log,
  // spans), which only read the finished record.
  void complete(RequestRecord& record, const metrics::ExtraLabelValues& extra_labels) noexcept;
  tracing::WorkerTracer& tracer() noexcept { return tracer_; }
  std::uint16_t listen_port() const noexcept { return listen_port_; }
  unsigned index() const noexcept { return index_; }  // this worker's slot in per-worker counters
  bool metrics_enabled() const noexcept { return snapshot_->config.metrics.enabled; }
  metrics::WorkerMetrics& metrics() noexcept { return metrics_; }
  // Upstream connections held by exchanges, for the pool gauges.
  void upstream_acquired() noexcept { ++upstream_in_use_; }
  void upstream_released() noexcept { --upstream_in_use_; }
  // Scratch for decoding a user identity (a JWT payload); valid until the next call on this worker.
  std::span<char> identity_scratch() noexcept { return identity_scratch_; }
  void connection_closed(DownstreamConnection& connection) noexcept;
  // A connection waits for its first or next request (joins the idle list's end), or has one (leaves it).
  void connection_idle(DownstreamConnection& connection) noexcept;
  static void connection_busy(DownstreamConnection& connection) noexcept;

 private:
  void do_accept();
  void on_accept(const ErrorCode& ec);
  // At the connection cap: closes the connection idle the longest so a new client gets its slot. False
  // when every connection has a request in flight (accepting then pauses).
  bool reclaim_idle_connection(const DownstreamConnection& admitted) noexcept;
  void do_tick();
  // The last writes to a record before its sinks read it: the route it is charged to (its label is what
  // the log and span show), its trace (a request refused before its head was read starts one here) and
  // the export decision, taken before the metrics so that exemplars point at traces that exist.
  metrics::ResolvedRoute finish_record(RequestRecord& record) noexcept;
  void apply_snapshot(SnapshotPtr snapshot);
  static void bump(std::atomic<std::size_t>& counter, int delta) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }

  unsigned index_;
  unsigned worker_count_;
  asio::io_context io_;
  SnapshotPtr snapshot_;
  AccessLogWriter& log_;
  metrics::WorkerMetrics& metrics_;
  tracing::WorkerTracer tracer_;
  std::uint16_t listen_port_ = 0;
  std::size_t upstream_in_use_ = 0;
  std::array<char, metrics::kUserScratchBytes> identity_scratch_{};
  BufferPool buffers_;
  BufferPool stream_body_buffers_{defaults::kHttp2StreamWindowBytes, 64};
  TlsSessionCache upstream_tls_sessions_;  // before the pool: its connections' session slots point here
  UpstreamPool upstreams_;
  Acceptor acceptor_;
  Socket accepting_;
  Timer tick_;
  std::size_t round_robin_ = 0;
  std::size_t max_connections_ = 0;  // this worker's share of limits.max_client_connections
  bool accept_paused_ = false;
  bool draining_ = false;
  bool stopping_ = false;
  boost::intrusive::list<DownstreamConnection, boost::intrusive::base_hook<ConnectionHook>,
                         boost::intrusive::constant_time_size<false>>
      connections_;
  boost::intrusive::list<DownstreamConnection, boost::intrusive::base_hook<IdleHook>,
                         boost::intrusive::constant_time_size<false>>
      idle_connections_;
  std::atomic<std::size_t> open_connections_{0};
  std::thread thread_;
};

}  // namespace apimeter
