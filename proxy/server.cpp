// Startup order matters: every listener is bound before any thread starts, so a bind error exits cleanly
// with code 2 and nothing half-running; "listening" is logged only once all of them accept.
#include "proxy/server.hpp"

#include <csignal>
#include <ctime>
#include <random>
#include <thread>

#include "dashboard/dashboard_assets.hpp"
#include "metrics/metrics_endpoint.hpp"
#include "proxy/event_log.hpp"

namespace apimeter {
namespace {

constexpr auto kDrainPoll = std::chrono::milliseconds(50);
// How often /stats' last-minute window takes a snapshot of the cumulative counters, and reclaiming at the
// connection cap is checked for its once-per-episode log lines.
constexpr auto kMetricsTick = std::chrono::seconds(5);

tcp::endpoint resolve_listen(const HostPort& hp, ErrorCode& ec) {
  asio::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(hp.host, std::to_string(hp.port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) return {};
  return results.begin()->endpoint();
}

std::string endpoint_text(const tcp::endpoint& e) {
  std::string host = e.address().to_string();
  if (e.address().is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(e.port());
}

// A random (version 4) UUID: service.instance.id must tell replicas and restarts apart.
std::string random_uuid() {
  std::random_device device;
  std::uint8_t bytes[16];
  for (auto& b : bytes) b = static_cast<std::uint8_t>(device());
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3f) | 0x80);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0xf];
  }
  return out;
}

unsigned worker_count(const Config& config) {
  if (config.workers > 0) return config.workers;
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? n : 1;
}

}  // namespace

Server::Server(CommandLine command_line, Config config)
    : command_line_(std::move(command_line)),
      initial_config_(std::move(config)),
      signals_(control_),
      drain_timer_(control_),
      metrics_timer_(control_),
      admin_(control_) {}

Server::~Server() { stop_workers(); }

int Server::run() {
  if (!start()) return 2;
  control_.run();
  stop_workers();
  // Workers are done: what they queued gets the shutdown timeout to reach the collector.
  if (exporter_) exporter_->shutdown(snapshot_->config.tracing.shutdown_timeout);
  admin_.stop();
  if (access_log_) access_log_->stop();
  log_event("info", "stopped");
  return 0;
}

bool Server::start() {
  std::vector<Diagnostic> problems;
  const unsigned workers = worker_count(initial_config_);
  snapshot_ = build_snapshot(initial_config_, generation_, workers, nullptr, problems);
  if (!snapshot_) {
    for (const auto& p : problems) log_event("error", format_diagnostic(p));
    return false;
  }
  const Config& config = snapshot_->config;

  access_log_ = std::make_unique<AccessLog>(workers);
  metrics_ = std::make_unique<metrics::MetricsRegistry>(
      workers, metrics::BuildInfo{APIMETER_VERSION, APIMETER_REVISION}, snapshot_->metrics);
  try {
    access_log_->configure(config.access_log, config.access_log_path, config.service);
  } catch (const std::exception& e) {
    log_event("error", e.what());
    return false;
  }
  metrics_->set_access_log_source([log = access_log_.get()] { return log->dropped(); });
  metrics_->set_connection_limit(config.limits.max_client_connections);

  ErrorCode ec;
  tcp::endpoint listen = resolve_listen(config.listen, ec);
  if (ec) {
    log_event("error", "cannot resolve listen address " + config.listen.to_string() + ": " + ec.message());
    return false;
  }
  start_tracing(workers);
  for (unsigned i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, workers, snapshot_, access_log_->writer(i), metrics_->worker(i),
                                                exporter_->buffer(i)));
    // The first bind settles port 0; the others share that port through SO_REUSEPORT.
    tcp::endpoint bound = workers_.back()->listen(listen, ec);
    if (ec) {
      log_event("error", "cannot listen on " + endpoint_text(listen) + ": " + ec.message());
      return false;
    }
    listen = bound;
  }
  tcp::endpoint admin = resolve_listen(config.admin, ec);
  if (!ec) admin = admin_.listen(admin, ec);
  if (ec) {
    log_event("error", "cannot listen on admin address " + config.admin.to_string() + ": " + ec.message());
    return false;
  }

  admin_.handle("/healthz", [](const AdminRequest&) { return AdminResponse{200, "text/plain; charset=utf-8", "ok\n", {}}; });
  admin_.handle("/readyz", [this](const AdminRequest&) {
    if (ready_.load(std::memory_order_relaxed)) return AdminResponse{200, "text/plain; charset=utf-8", "ready\n", {}};
    return AdminResponse{503, "text/plain; charset=utf-8", "draining\n", {}};
  });

  // Signals first: a SIGTERM that arrives while threads start must drain, not kill.
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.add(SIGHUP);
  wait_for_signal();
  add_metrics_endpoints();
  add_dashboard_endpoints();
  access_log_->start();
  for (auto& worker : workers_) worker->start();
  admin_.start();
  do_metrics_tick();
  ready_ = true;

  std::string upstreams;
  for (const auto& e : snapshot_->endpoints) upstreams += (upstreams.empty() ? "" : ",") + e.name;
  log_tls_settings();
  log_event("info", "listening",
            {{"apimeter.listen", endpoint_text(listen)},
             {"apimeter.admin", endpoint_text(admin)},
             {"apimeter.workers", std::to_string(workers)},
             {"apimeter.upstreams", upstreams},
             {"service.name", config.service},
             {"service.version", APIMETER_VERSION}});
  return true;
}

void Server::wait_for_signal() {
  signals_.async_wait([this](const ErrorCode& ec, int signal_number) {
    if (ec) return;
    on_signal(signal_number);
    wait_for_signal();
  });
}

void Server::on_signal(int signal_number) {
  if (signal_number == SIGHUP) return reload();
  if (draining_) {
    // A second SIGTERM/SIGINT: the operator wants out now.
    log_event("warn", "second stop signal: stopping without waiting");
    signals_.cancel();
    drain_timer_.cancel();
    metrics_timer_.cancel();
    control_.stop();
    return;
  }
  begin_drain();
}

void Server::reload() {
  if (command_line_.config_path.empty()) {
    log_event("warn", "SIGHUP ignored: no --config file to reload");
    return;
  }
  LoadResult loaded = load_effective_config(command_line_);
  std::vector<Diagnostic> problems = loaded.problems;
  SnapshotPtr next;
  if (problems.empty()) next = build_snapshot(loaded.config, generation_ + 1, static_cast<unsigned>(workers_.size()), snapshot_.get(), problems);
  if (!next) {
    metrics_->reload_failed();
    for (const auto& p : problems) log_event("error", format_diagnostic(p));
    log_event("error", "reload rejected; the previous configuration stays in force",
              {{"apimeter.config", command_line_.config_path}});
    return;
  }
  const Config& before = snapshot_->config;
  const Config& after = next->config;
  if (before.listen.to_string() != after.listen.to_string() || before.admin.to_string() != after.admin.to_string() ||
      before.workers != after.workers || before.access_log != after.access_log ||
      before.access_log_path != after.access_log_path)
    log_event("warn", "listen, admin, workers and access_log changes take effect after a restart");
  ++generation_;
  snapshot_ = next;
  // The scrape side adopts the new settings first; each worker's shard follows with its snapshot.
  metrics_->apply(snapshot_->metrics);
  metrics_->set_connection_limit(snapshot_->config.limits.max_client_connections);
  exporter_->configure(make_exporter_settings(snapshot_->config, instance_id_));
  for (auto& worker : workers_) worker->post_snapshot(snapshot_);
  metrics_->reload_succeeded();
  log_tls_settings();
  log_event("info", "configuration reloaded",
            {{"apimeter.config", command_line_.config_path}, {"apimeter.generation", std::to_string(generation_)}});
}

void Server::log_tls_settings() {
  const UpstreamTlsConfig& upstream = snapshot_->config.upstream_tls;
  if (upstream.enabled) {
    // Unverified TLS looks like security and is not; say so every time it is configured.
    const std::string trust = !upstream.verify           ? std::string("none")
                              : upstream.ca_file.empty() ? std::string("system CA store")
                                                         : upstream.ca_file;
    log_event(upstream.verify ? "info" : "warn",
              upstream.verify ? "upstreams over TLS" : "upstreams over TLS without certificate verification",
              {{"apimeter.upstream_tls.trust", trust},
               {"apimeter.upstream_tls.server_name",
                upstream.server_name.empty() ? std::string("each upstream's host") : upstream.server_name}});
  }
  const auto& tls = snapshot_->tls;
  if (!tls) return;
  const double left = tls->certificate_not_after - static_cast<double>(std::time(nullptr));
  const std::string days = std::to_string(static_cast<long long>(left / 86400));
  // An expired certificate is still served (clients decide), but nobody should learn it from them.
  log_event(left > 0 ? "info" : "warn", left > 0 ? "serving TLS" : "serving TLS with an expired certificate",
            {{"tls.server.subject", tls->certificate_subject},
             {"apimeter.tls.cert_file", snapshot_->config.tls.cert_file},
             {"apimeter.tls.certificate_days_left", days}});
}

void Server::begin_drain() {
  draining_ = true;
  ready_ = false;
  const Config& config = snapshot_->config;
  log_event("info", "draining", {{"apimeter.drain_delay_ms", std::to_string(config.drain_delay.count())},
                                 {"apimeter.drain_timeout_ms", std::to_string(config.drain_timeout.count())}});
  for (auto& worker : workers_) worker->post_begin_drain();
  drain_timer_.expires_after(config.drain_delay);
  drain_timer_.async_wait([this](const ErrorCode& ec) {
    if (ec) return;
    admin_.stop();
    for (auto& worker : workers_) worker->post_stop_accepting();
    poll_drain(std::chrono::steady_clock::now() + snapshot_->config.drain_timeout);
  });
}

void Server::poll_drain(std::chrono::steady_clock::time_point deadline) {
  std::size_t open = 0;
  for (const auto& worker : workers_) open += worker->open_connections();
  if (open == 0 || std::chrono::steady_clock::now() >= deadline) {
    if (open != 0) log_event("warn", "drain timeout: closing connections still open", {{"apimeter.connections", std::to_string(open)}});
    signals_.cancel();
    metrics_timer_.cancel();
    control_.stop();
    return;
  }
  drain_timer_.expires_after(kDrainPoll);
  drain_timer_.async_wait([this, deadline](const ErrorCode& ec) {
    if (!ec) poll_drain(deadline);
  });
}

void Server::add_metrics_endpoints() {
  admin_.handle("/metrics", [this](const AdminRequest& request) {
    metrics::RenderedMetrics rendered = metrics::render_metrics(*metrics_, request.accept, request.accept_encoding);
    AdminResponse response{200, std::string(rendered.content_type), std::move(rendered.body), {}};
    if (rendered.gzipped) response.headers = {{"Content-Encoding", "gzip"}, {"Vary", "Accept-Encoding"}};
    return response;
  });
  metrics_->set_upstream_source([this] {
    std::vector<metrics::UpstreamEndpointSample> endpoints;
    for (const auto& e : snapshot_->endpoints) {
      const UpstreamEndpointStats::Totals t = e.stats->totals();
      endpoints.push_back({e.name, e.upstream, t.attempts, t.connects, t.connect_errors});
    }
    return endpoints;
  });
  metrics_->set_tls_source([this] {
    const auto& tls = snapshot_->tls;
    return metrics::TlsSample{tls != nullptr, tls ? tls->certificate_not_after : 0.0,
                              snapshot_->upstream_tls != nullptr};
  });
  admin_.handle("/stats", [this](const AdminRequest&) {
    return AdminResponse{200, "application/json", metrics_->stats_json(Clock::now()), {}};
  });
  admin_.handle("/routes", [this](const AdminRequest&) {
    return AdminResponse{200, "text/plain; charset=utf-8", metrics_->routes_report(), {}};
  });
}

void Server::add_dashboard_endpoints() {
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Security-Policy", std::string(dashboard::kContentSecurityPolicy)},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"}};
  auto serve = [headers](const dashboard::Asset* asset) {
    return [asset, headers](const AdminRequest&) {
      return AdminResponse{200, std::string(asset->content_type), std::string(asset->body), headers};
    };
  };
  for (const dashboard::Asset& asset : dashboard::assets()) {
    if (asset.name == "index.html") admin_.handle("/dashboard", serve(&asset));
    else admin_.handle("/dashboard/" + std::string(asset.name), serve(&asset));
  }
  admin_.handle("/", [](const AdminRequest&) {
    return AdminResponse{302, "text/plain; charset=utf-8", "the live view is at /dashboard\n", {{"Location", "/dashboard"}}};
  });
}

void Server::report_reclaims() {
  const std::uint64_t total = metrics_->connections_reclaimed();
  const std::uint64_t fresh = total - reclaimed_seen_;
  reclaimed_seen_ = total;
  if (fresh != 0 && reclaimed_in_episode_ == 0)
    log_event("warn",
              "client connections near the limit: closing idle and slow ones early (shrunk timeouts) and the "
              "ones idle the longest at the cap, to keep room for new clients",
              {{"apimeter.limit", std::to_string(snapshot_->config.limits.max_client_connections)}});
  if (fresh == 0 && reclaimed_in_episode_ != 0) {
    log_event("info", "client connections no longer reclaimed near the limit",
              {{"apimeter.reclaimed", std::to_string(reclaimed_in_episode_)}});
    reclaimed_in_episode_ = 0;
  }
  reclaimed_in_episode_ += fresh;
}

void Server::do_metrics_tick() {
  metrics_->tick(Clock::now());
  report_reclaims();
  metrics_timer_.expires_after(kMetricsTick);
  metrics_timer_.async_wait([this](const ErrorCode& ec) {
    if (!ec) do_metrics_tick();
  });
}

void Server::start_tracing(unsigned workers) {
  // The exporter thread runs even while tracing is off, so a reload can turn tracing on.
  instance_id_ = random_uuid();
  exporter_ = std::make_unique<tracing::OtlpExporter>(workers, defaults::kTracingRingBytesPerWorker, APIMETER_VERSION);
  exporter_->configure(make_exporter_settings(snapshot_->config, instance_id_));
  exporter_->set_reporter([](std::string_view message, bool failing) {
    log_event(failing ? "warn" : "info", std::string(message));
  });
  metrics_->set_tracing_source([this, exporter = exporter_.get()] {
    const tracing::ExportStats& stats = exporter->stats();
    auto load = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    metrics::TracingExportSample t;
    t.spans_exported = load(stats.spans_exported);
    t.dropped_queue_full = exporter->dropped_queue_full();
    t.dropped_export_failed = load(stats.dropped[static_cast<std::size_t>(tracing::DropReason::export_failed)]);
    t.dropped_rejected = load(stats.dropped[static_cast<std::size_t>(tracing::DropReason::rejected)]);
    t.dropped_shutdown = load(stats.dropped[static_cast<std::size_t>(tracing::DropReason::shutdown)]);
    t.requests_success = load(stats.requests[static_cast<std::size_t>(tracing::ExportResult::success)]);
    t.requests_retryable = load(stats.requests[static_cast<std::size_t>(tracing::ExportResult::retryable_error)]);
    t.requests_error = load(stats.requests[static_cast<std::size_t>(tracing::ExportResult::error)]);
    t.duration_bounds.assign(tracing::kExportDurationBounds.begin(), tracing::kExportDurationBounds.end());
    for (const auto& bucket : stats.duration_buckets) t.duration_buckets.push_back(load(bucket));
    t.duration_sum = stats.duration_sum.load(std::memory_order_relaxed);
    t.queued = exporter->queued_spans();
    t.enabled = snapshot_->tracing.enabled;
    return t;
  });
  exporter_->start();
}

void Server::stop_workers() {
  for (auto& worker : workers_) worker->post_stop();
  for (auto& worker : workers_) worker->join();
}

}  // namespace apimeter
