// Building a snapshot: DNS resolution of the upstreams and the buffer size that fits the header limits.
#include "proxy/snapshot.hpp"

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <unistd.h>

#include "control/options.hpp"

namespace apimeter {

SnapshotPtr build_snapshot(Config config, std::uint64_t generation, unsigned workers, const Snapshot* previous,
                           std::vector<Diagnostic>& problems) {
  auto snapshot = std::make_shared<Snapshot>(std::move(config));
  const Config& c = snapshot->config;
  snapshot->generation = generation;

  asio::io_context io;
  tcp::resolver resolver(io);
  for (const HostPort& upstream : c.upstreams) {
    ErrorCode ec;
    auto results = resolver.resolve(upstream.host, std::to_string(upstream.port),
                                    tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      problems.push_back({{c.config_path.empty() ? "--upstream" : c.config_path, 0, 0},
                          "upstream " + upstream.to_string() + " does not resolve: " + ec.message()});
      continue;
    }
    // Every address a name resolves to is an endpoint; round-robin spreads over all of them.
    for (const auto& entry : results) {
      auto address = entry.endpoint();
      bool seen = std::any_of(snapshot->endpoints.begin(), snapshot->endpoints.end(),
                              [&](const UpstreamEndpoint& e) { return e.address == address; });
      if (!seen) {
        std::string name = address.address().is_v6() ? "[" + address.address().to_string() + "]"
                                                     : address.address().to_string();
        UpstreamEndpoint endpoint{
            address, name + ":" + std::to_string(address.port()), upstream.to_string(),
            c.upstream_tls.server_name.empty() ? upstream.host : c.upstream_tls.server_name, nullptr};
        // Counters survive a reload for an endpoint that stays, so /stats' totals stay monotonic.
        if (previous) {
          for (const auto& old : previous->endpoints)
            if (old.address == address && old.stats->workers() == workers) endpoint.stats = old.stats;
        }
        if (!endpoint.stats) endpoint.stats = std::make_shared<UpstreamEndpointStats>(workers);
        snapshot->endpoints.push_back(std::move(endpoint));
      }
    }
  }
  // The ticket keys outlive every reload; the context is rebuilt from the files each time.
  snapshot->ticket_keys =
      previous && previous->ticket_keys ? previous->ticket_keys : TlsTicketKeys::generate();
  if (!snapshot->ticket_keys) {
    problems.push_back(
        {{c.config_path, 0, 0}, "tls: the random generator could not draw session ticket keys"});
  } else if (c.tls.enabled()) {
    const std::size_t before = problems.size();
    snapshot->tls = build_tls_server_context(c.tls, *snapshot->ticket_keys, problems);
    // The TLS messages name their setting and file; the location says which config they come from.
    for (std::size_t i = before; i < problems.size(); ++i) problems[i].where = {c.config_path, 0, 0};
  }
  if (c.upstream_tls.enabled) {
    const std::size_t before = problems.size();
    snapshot->upstream_tls = build_tls_client_context(c.upstream_tls, problems);
    for (std::size_t i = before; i < problems.size(); ++i) problems[i].where = {c.config_path, 0, 0};
  }
  if (!problems.empty()) return nullptr;
  snapshot->metrics = make_metrics_settings(c, snapshot->router);
  tracing::TracingSettings& t = snapshot->tracing;
  t.enabled = c.tracing.enabled;
  t.sampler = {c.tracing.sampler, c.tracing.sampler_ratio};
  t.tail_errors = c.tracing.tail_errors;
  t.tail_latency = c.tracing.tail_latency;
  t.emit_b3 = c.tracing.b3;
  t.capture_query = c.tracing.capture_query;

  const Limits& l = c.limits;
  snapshot->request_limits = {l.max_request_header_bytes, l.max_request_headers, l.max_uri_bytes};
  snapshot->response_limits = {l.max_response_header_bytes, l.max_response_headers, l.max_response_header_bytes};
  // A buffer holds a whole head plus room to stream body bytes behind it.
  snapshot->io_buffer_bytes =
      std::max(l.max_request_header_bytes, l.max_response_header_bytes) + defaults::kIoBufferBytes;
  return snapshot;
}

std::shared_ptr<const metrics::MetricsSettings> make_metrics_settings(const Config& config, const Router& router) {
  auto settings = std::make_shared<metrics::MetricsSettings>();
  const MetricsConfig& m = config.metrics;
  settings->service = config.service;
  for (const Route& route : router.routes()) {
    settings->route_labels.push_back(m.route_label == RouteLabel::name ? route.name : route.label);
    settings->route_buckets.push_back(route.index < config.routes.size() ? config.routes[route.index].duration_buckets
                                                                         : std::vector<double>{});
  }
  settings->duration_buckets = m.duration_buckets;
  settings->size_buckets.assign(m.size_buckets.begin(), m.size_buckets.end());
  settings->max_learned_templates = m.learned_templates;
  settings->top_users = m.top_users;
  settings->hash_user_ids = m.hash_user_ids;
  settings->max_series = m.max_series;

  using Kind = metrics::UserIdentitySource::Kind;
  const UserIdentityConfig& id = config.user_identity;
  switch (id.source) {
    case IdentitySource::none: settings->user_source.kind = Kind::none; break;
    case IdentitySource::header: settings->user_source.kind = Kind::header; break;
    case IdentitySource::jwt_claim: settings->user_source.kind = Kind::jwt_claim; break;
    case IdentitySource::api_key: settings->user_source.kind = Kind::api_key_header; break;
    case IdentitySource::cookie: settings->user_source.kind = Kind::cookie; break;
    case IdentitySource::client_address: settings->user_source.kind = Kind::client_address; break;
    case IdentitySource::client_certificate:
      settings->user_source.kind = Kind::client_certificate;
      break;
  }
  settings->user_source.name = std::string(id.effective_name());

  for (const ExtraLabelConfig& e : m.extra_labels) {
    metrics::ExtraLabel label;
    label.label = e.name;
    label.source = e.source == ExtraLabelSource::header ? metrics::ExtraLabel::Source::header
                                                        : metrics::ExtraLabel::Source::query;
    label.key = e.key;
    label.allowed = e.values;
    if (e.max_values != 0) label.max_values = e.max_values;
    settings->extra_labels.push_back(std::move(label));
  }
  return settings;
}

tracing::ExporterSettings make_exporter_settings(const Config& config, const std::string& instance_id) {
  const TracingConfig& t = config.tracing;
  tracing::ExporterSettings out;
  std::string ignored;
  HttpUrl url;
  if (parse_http_url(t.endpoint, url, ignored)) {
    out.url = t.endpoint;
    out.host = url.host;
    out.port = url.port;
    out.path = url.path;
    out.tls = url.tls;
  }
  out.ca_file = t.ca_file;
  parse_key_values(t.headers, true, out.headers, ignored);
  out.gzip = t.compression == OtlpCompression::gzip;
  out.timeout = t.export_timeout;
  out.max_batch_spans = std::max<std::size_t>(1, t.max_batch_spans);
  out.max_queue_spans = std::max(out.max_batch_spans, t.max_queue_spans);
  out.batch_delay = t.batch_delay;
  out.retry_initial_backoff = std::max(t.retry_initial_backoff, Duration(1));
  out.retry_max_backoff = std::max(t.retry_max_backoff, out.retry_initial_backoff);
  out.retry_max_elapsed = t.retry_max_elapsed;

  // Resource: ours first; OTEL_RESOURCE_ATTRIBUTES may override them; service_name (OTEL_SERVICE_NAME)
  // overrides both, as the OTel spec ranks them.
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  tracing::KeyValues resource{{"service.name", config.service},
                              {"service.instance.id", instance_id},
                              {"telemetry.sdk.name", "apimeter"},
                              {"telemetry.sdk.language", "cpp"},
                              {"telemetry.sdk.version", APIMETER_VERSION},
                              {"host.name", host},
                              {"process.pid", std::to_string(::getpid())}};
  tracing::KeyValues extra;
  parse_key_values(t.resource_attributes, false, extra, ignored);
  for (auto& [key, value] : extra) {
    auto it = std::find_if(resource.begin(), resource.end(), [&](const auto& kv) { return kv.first == key; });
    if (it != resource.end()) it->second = value;
    else resource.emplace_back(key, value);
  }
  if (!t.service_name.empty()) resource.front().second = t.service_name;
  out.resource = std::move(resource);
  return out;
}

}  // namespace apimeter
