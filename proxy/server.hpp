// The process: N workers, the admin listener and signal handling on one control thread, the access log
// flusher. Owns startup (bind, announce), SIGHUP reload (validate, resolve, swap snapshots) and the
// SIGTERM/SIGINT drain. It never touches a connection: workers get snapshots and commands by post().
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "proxy/access_log.hpp"
#include "control/admin_server.hpp"
#include "common/asio_types.hpp"
#include "control/cli.hpp"
#include "proxy/snapshot.hpp"
#include "proxy/worker.hpp"
#include "metrics/metrics_registry.hpp"
#include "tracing/otlp_exporter.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

namespace apimeter {

class Server {
 public:
  Server(CommandLine command_line, Config config);
  ~Server();
  // Binds, serves until drained after SIGTERM/SIGINT, and returns the exit code (0 after a clean drain,
  // 2 when startup failed).
  int run();

  // Admin listener, so other modules (metrics, tracing) can add endpoints before run().
  AdminServer& admin() noexcept { return admin_; }

 private:
  bool start();
  void wait_for_signal();
  void on_signal(int signal_number);
  void reload();
  void
  log_tls_settings();  // the certificate served and the upstream TLS trust, at start and after each reload
  void begin_drain();
  void poll_drain(std::chrono::steady_clock::time_point deadline);
  void stop_workers();
  void add_metrics_endpoints();
  void add_dashboard_endpoints();  // /dashboard and its files, / redirecting to it
  void report_reclaims();          // one log line when reclaiming at the cap starts, one when it stops
  void do_metrics_tick();
  void start_tracing(unsigned workers);

  CommandLine command_line_;
  Config initial_config_;
  SnapshotPtr snapshot_;
  std::uint64_t generation_ = 1;
  // Connections reclaimed at the cap: the count last seen, and those of the episode in progress.
  std::uint64_t reclaimed_seen_ = 0;
  std::uint64_t reclaimed_in_episode_ = 0;
  asio::io_context control_;
  asio::signal_set signals_;
  asio::steady_timer drain_timer_;
  asio::steady_timer metrics_timer_;
  AdminServer admin_;
  std::unique_ptr<AccessLog> access_log_;
  std::unique_ptr<metrics::MetricsRegistry> metrics_;  // before workers_: they hold its shards
  std::unique_ptr<tracing::OtlpExporter> exporter_;     // before workers_: they hold its span buffers
  std::string instance_id_;                             // service.instance.id, one per process
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> ready_{false};
  bool draining_ = false;
};

}  // namespace apimeter
