// Worker thread: accept loop with a per-worker connection cap, a one-second tick for pool upkeep, and the
// cross-thread entry points (snapshot swap, drain, stop) that arrive as posted handlers.
#include "proxy/worker.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <sys/socket.h>

#include "proxy/downstream_connection.hpp"
#include "proxy/router.hpp"

namespace apimeter {
namespace {

using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
constexpr auto kTick = std::chrono::seconds(1);
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);

std::size_t worker_share(std::size_t total, unsigned workers) {
  if (total == 0) return 0;
  return (total + workers - 1) / workers;
}

}  // namespace

Worker::Worker(unsigned index, unsigned worker_count, SnapshotPtr snapshot, AccessLogWriter& log,
               metrics::WorkerMetrics& metrics, tracing::SpanBuffer& spans)
    : index_(index),
      worker_count_(worker_count),
      io_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO),
      snapshot_(std::move(snapshot)),
      log_(log),
      metrics_(metrics),
      tracer_(spans),
      buffers_(snapshot_->io_buffer_bytes, 256),
      upstreams_(snapshot_->config.pool),
      acceptor_(io_.get_executor()),
      accepting_(io_.get_executor()),
      tick_(io_.get_executor()) {
  max_connections_ = worker_share(snapshot_->config.limits.max_client_connections, worker_count_);
  upstreams_.set_tls_context(snapshot_->upstream_tls ? snapshot_->upstream_tls->id : 0);
}

Worker::~Worker() {
  join();
  // Close what the thread left; pending handlers are destroyed with io_ (declared first, destroyed last).
  connections_.clear();
  upstreams_.close_all();
}

tcp::endpoint Worker::listen(const tcp::endpoint& address, ErrorCode& ec) {
  acceptor_.open(address.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.set_option(ReusePort(true), ec);
  if (!ec) acceptor_.bind(address, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return {};
  tcp::endpoint bound = acceptor_.local_endpoint(ec);
  listen_port_ = bound.port();
  return bound;
}

void Worker::start() {
  do_accept();
  do_tick();
  thread_ = std::thread([this] { io_.run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::post_snapshot(SnapshotPtr snapshot) {
  asio::post(io_, [this, snapshot = std::move(snapshot)]() mutable { apply_snapshot(std::move(snapshot)); });
}

void Worker::post_begin_drain() {
  asio::post(io_, [this] { draining_ = true; });
}

void Worker::post_stop_accepting() {
  asio::post(io_, [this] {
    draining_ = true;
    stopping_ = true;
    ErrorCode ignored;
    acceptor_.close(ignored);
    // stop_if_idle may unlink the connection from the list: advance before calling it.
    for (auto it = connections_.begin(); it != connections_.end();) (it++)->stop_if_idle();
    upstreams_.close_all();
  });
}

void Worker::post_stop() {
  asio::post(io_, [this] {
    stopping_ = true;
    ErrorCode ignored;
    acceptor_.close(ignored);
    tick_.cancel();
    for (auto it = connections_.begin(); it != connections_.end();) (it++)->force_close();
    upstreams_.close_all();
    io_.stop();
  });
}

void Worker::do_accept() {
  acceptor_.async_accept(accepting_, [this](const ErrorCode& ec) { on_accept(ec); });
}

void Worker::on_accept(const ErrorCode& ec) {
  if (stopping_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors or a transient error: back off briefly instead of spinning on accept.
    tick_.expires_after(kAcceptRetry);
    tick_.async_wait([this](const ErrorCode& e) {
      if (!e && !stopping_) do_accept();
      do_tick();
    });
    return;
  }
  auto connection = std::make_shared<DownstreamConnection>(*this, std::move(accepting_));
  accepting_ = Socket(io_.get_executor());
  connections_.push_back(*connection);
  bump(open_connections_, +1);
  metrics_.connection_opened();
  connection->start();
  // Over the cap by this one: the connection idle the longest makes room. With none idle, accepting
  // pauses (two over the share at most) until a connection closes or goes idle.
  if (max_connections_ != 0 && open_connections() > max_connections_ && !reclaim_idle_connection(*connection)) {
    accept_paused_ = true;  // resumed by connection_closed() or connection_idle()
    return;
  }
  do_accept();
}

bool Worker::reclaim_idle_connection(const DownstreamConnection& admitted) noexcept {
  // The connection just accepted is idle too; closing it would turn the cap into a refusal.
  if (idle_connections_.empty() || &idle_connections_.front() == &admitted) return false;
  DownstreamConnection& longest_idle = idle_connections_.front();
  connection_busy(longest_idle);
  metrics_.connection_reclaimed(metrics::ReclaimReason::idle_at_limit);  // logged by Server::report_reclaims
  longest_idle.force_close();
  return true;
}

void Worker::connection_idle(DownstreamConnection& connection) noexcept {
  connection_busy(connection);
  idle_connections_.push_back(connection);
  // Paused at the cap with every connection busy: this one can now make room for a waiting client. Not
  // past one over the share, so a race with this connection's next request cannot grow the overshoot.
  if (accept_paused_ && !stopping_ && open_connections() <= max_connections_ + 1) {
    accept_paused_ = false;
    do_accept();
  }
}

void Worker::connection_busy(DownstreamConnection& connection) noexcept {
  if (connection.IdleHook::is_linked()) connection.IdleHook::unlink();
}

void Worker::connection_closed(DownstreamConnection& connection) noexcept {
  if (connection.ConnectionHook::is_linked()) connection.ConnectionHook::unlink();
  connection_busy(connection);
  bump(open_connections_, -1);
  metrics_.connection_closed();
  if (accept_paused_ && !stopping_ && (max_connections_ == 0 || open_connections() <= max_connections_)) {
    accept_paused_ = false;
    do_accept();
  }
}

void Worker::do_tick() {
  tick_.expires_after(kTick);
  tick_.async_wait([this](const ErrorCode& ec) {
    if (ec || stopping_) return;
    upstreams_.sweep(std::chrono::steady_clock::now());
    // Pool gauges are sampled once a second rather than touched on every request.
    metrics_.upstream_pool(upstreams_.idle_count(), upstream_in_use_);
    do_tick();
  });
}

void Worker::apply_snapshot(SnapshotPtr snapshot) {
  snapshot_ = std::move(snapshot);
  buffers_.set_buffer_bytes(snapshot_->io_buffer_bytes);
  upstreams_.set_settings(snapshot_->config.pool);
  // Endpoints may have changed; busy upstream connections finish their exchange, idle ones go. Sessions
  // of the old TLS client context are not offered under the new one (it may trust other CAs).
  upstreams_.close_all();
  upstreams_.set_tls_context(snapshot_->upstream_tls ? snapshot_->upstream_tls->id : 0);
  upstream_tls_sessions_.clear();
  max_connections_ = worker_share(snapshot_->config.limits.max_client_connections, worker_count_);
  log_.set_service(snapshot_->config.service);
  metrics_.apply(snapshot_->metrics);
}

metrics::ResolvedRoute Worker::finish_record(RequestRecord& record) noexcept {
  metrics::ResolvedRoute route;
  if (metrics_enabled()) {
    route = metrics_.resolve_route(record);
    record.route_label = route.label;
  }
  const tracing::TracingSettings& tracing = snapshot_->tracing;
  if (tracing.enabled) {
    if (!record.trace.active) tracer_.begin(tracing, {}, record.trace);
    record.trace.exported = tracer_.decide_export(tracing, record);
  }
  return route;
}

void Worker::complete(RequestRecord& record, const metrics::ExtraLabelValues& extra_labels) noexcept {
  const metrics::ResolvedRoute route = finish_record(record);
  const RequestRecord& finished = record;
  if (metrics_enabled()) metrics_.record(finished, route, extra_labels);
  log_.write(finished);
  if (!finished.trace.exported) return;
  // user.id as the metrics export it: raw, or hashed when hash_user_ids is on.
  char hashed[metrics::kExportedUserIdBytes];
  const std::string_view user = metrics::exported_user_id(finished.user, *snapshot_->metrics, hashed);
  tracer_.submit(snapshot_->tracing, finished, {finished.route_label, user});
}

}  // namespace apimeter
