// The immutable runtime snapshot compiled from a validated Config: routes, resolved upstream endpoints,
// parser limits and the metrics settings. Workers hold it by shared_ptr<const>; a reload builds a new one and swaps it in.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/asio_types.hpp"
#include "control/config.hpp"
#include "metrics/metrics_settings.hpp"
#include "proxy/http1/http_head_parser.hpp"
#include "proxy/router.hpp"
#include "proxy/tls/tls_client_context.hpp"
#include "proxy/tls/tls_server_context.hpp"
#include "proxy/upstream_endpoint_stats.hpp"
#include "tracing/exporter_settings.hpp"
#include "tracing/tracing_settings.hpp"

namespace apimeter {

struct UpstreamEndpoint {
  tcp::endpoint address;
  std::string name;  // "127.0.0.1:3000", for logs
  std::string upstream;  // the configured upstream it resolved from, "shop.internal:3000"
  // With upstream_tls: SNI and the name or address its certificate must carry (upstream_tls.server_name,
  // else the configured upstream's host).
  std::string tls_peer_name;
  std::shared_ptr<UpstreamEndpointStats> stats;  // never null; shared with the next snapshot's same endpoint
};

struct Snapshot {
  explicit Snapshot(Config c) : config(std::move(c)), router(config) {}
  Config config;
  Router router;
  std::vector<UpstreamEndpoint> endpoints;
  HeadLimits request_limits{};
  HeadLimits response_limits{};
  std::size_t io_buffer_bytes = 0;
  std::uint64_t generation = 0;
  // What the metrics engine needs of this config; route_labels[i] is the http_route of route i.
  std::shared_ptr<const metrics::MetricsSettings> metrics;
  tracing::TracingSettings tracing;
  // The listener's TLS context; null in cleartext. Session ticket keys: the same in every snapshot.
  std::shared_ptr<TlsServerContext> tls;
  std::shared_ptr<const TlsTicketKeys> ticket_keys;
  // TLS to the upstreams; null when they are reached in cleartext.
  std::shared_ptr<TlsClientContext> upstream_tls;
};

// The metrics engine's view of a config (route labels by route index, buckets, caps, identity source).
std::shared_ptr<const metrics::MetricsSettings> make_metrics_settings(const Config& config, const Router& router);

// The exporter thread's settings: endpoint, headers, batching, retry and the resource. `instance_id` is
// service.instance.id, chosen once per process.
tracing::ExporterSettings make_exporter_settings(const Config& config, const std::string& instance_id);

using SnapshotPtr = std::shared_ptr<const Snapshot>;

// Resolves every upstream (blocking DNS, so call it off the workers), reads the TLS files and derives
// limits. Returns nullptr and fills `problems` when an upstream does not resolve or a TLS file is unusable.
// Endpoint counters have a slot for each of the `workers` running workers and carry over from `previous` (the
// snapshot in force; null at start).
SnapshotPtr build_snapshot(Config config, std::uint64_t generation, unsigned workers, const Snapshot* previous,
                           std::vector<Diagnostic>& problems);

}  // namespace apimeter
