// The proxy's configuration as loaded from YAML, environment and flags, before it is compiled into a
// runtime snapshot. Plain data: no I/O here, and nothing on the request path reads it by name.
#pragma once

#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/limits.hpp"
#include "tracing/sampler.hpp"
#include "tracing/tracing_settings.hpp"

namespace apimeter {

// Where a value came from, for `FILE:LINE:COL: message` diagnostics. line/column are 1-based; 0 when the
// value came from a flag or the environment (file then names the flag, e.g. "--listen").
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

struct Diagnostic {
  SourceLocation where;
  std::string message;
};

// host:port as written; resolved to addresses when the snapshot is built.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
};

enum class RouteMatch { exact, path_template, prefix };

struct RouteConfig {
  std::string name;
  RouteMatch match = RouteMatch::prefix;
  std::string pattern;               // "/api/orders/{id}", "/static/", "/healthz"
  std::vector<std::string> methods;  // upper-case; empty = every method
  std::optional<Duration> request_timeout;            // overrides timeouts.request
  std::optional<Duration> upstream_response_timeout;  // overrides timeouts.upstream_response
  // Seconds, strictly increasing; empty = metrics.duration_buckets.
  std::vector<double> duration_buckets;
  SourceLocation where;
};

enum class AccessLogMode { stdout_, file, off };
enum class UnmatchedRoutes { forward, reject };

// What the http_route label of a configured route says: its pattern ("/api/orders/{id}") or its name.
enum class RouteLabel { path_template, name };

// One optional extra label on the request metrics, taken from a request header or a query parameter and
// bounded by an allow-list (`values`; anything else is "_other") or by a first-come cap (`max_values`).
enum class ExtraLabelSource { header, query };
struct ExtraLabelConfig {
  std::string name;  // the Prometheus label name
  ExtraLabelSource source = ExtraLabelSource::header;
  std::string key;                  // the header name or the query parameter name
  std::vector<std::string> values;  // allow-list; empty when max_values bounds the label instead
  std::size_t max_values = 0;       // first-come cap when `values` is empty
  SourceLocation where;
};

struct MetricsConfig {
  bool enabled = true;  // false: the proxy records no traffic metrics at all
  RouteLabel route_label = RouteLabel::path_template;
  std::vector<double> duration_buckets{std::begin(defaults::kMetricsDurationBuckets),
                                       std::end(defaults::kMetricsDurationBuckets)};  // seconds
  std::vector<std::uint64_t> size_buckets{std::begin(defaults::kMetricsSizeBuckets),
                                          std::end(defaults::kMetricsSizeBuckets)};  // bytes
  std::size_t learned_templates = defaults::kMetricsLearnedTemplates;  // per service; unmatched paths
  std::size_t top_users = defaults::kMetricsTopUsers;                  // 0 = no per-user metrics
  bool hash_user_ids = false;  // export user ids hashed: they are personal data
  std::size_t max_series = defaults::kMetricsMaxSeries;
  std::vector<ExtraLabelConfig> extra_labels;  // at most defaults::kMetricsMaxExtraLabels
};

// Where a request's user id comes from. jwt_claim reads a claim of an `Authorization: Bearer` token;
// client_certificate is the subject of the certificate a TLS client presented (tls.client_ca_file).
enum class IdentitySource { none, header, jwt_claim, api_key, cookie, client_address, client_certificate };
struct UserIdentityConfig {
  IdentitySource source = IdentitySource::none;
  // The header (header, api_key), claim (jwt_claim) or cookie (cookie) name; empty = the source's default
  // from control/limits.hpp (a cookie has none). Unused by none, client_address and client_certificate.
  std::string name;

  // `name`, or the source's default when it is empty; empty when the source takes no name.
  std::string_view effective_name() const noexcept;
};

enum class OtlpCompression { none, gzip };

// Tracing: spans per request exported over OTLP/HTTP. The OTEL_* environment variables map onto these.
struct TracingConfig {
  bool enabled = false;
  std::string endpoint{defaults::kTracingEndpoint};  // full URL of the traces endpoint, http or https
  std::string ca_file;  // https: CAs the collector's certificate must chain to; empty = the system's
  std::string headers;              // "name=value,..." sent with every export (values URL-decoded)
  OtlpCompression compression = OtlpCompression::none;
  Duration export_timeout = defaults::kTracingExportTimeout;
  tracing::SamplerKind sampler = tracing::SamplerKind::parentbased_traceidratio;
  double sampler_ratio = 1.0;       // root traces sampled by the traceidratio kinds
  bool tail_errors = false;         // also export unsampled requests that ended in 5xx or failed
  Duration tail_latency{0};         // also export unsampled requests at least this slow; 0 = off
  tracing::B3Emit b3 = tracing::B3Emit::off;  // B3 headers to the upstream besides traceparent
  bool capture_query = false;       // url.query (it may carry secrets)
  std::string service_name;         // service.name; empty = the service setting
  std::string resource_attributes;  // "key=value,..." added to the resource
  std::size_t max_queue_spans = defaults::kTracingMaxQueueSpans;
  std::size_t max_batch_spans = defaults::kTracingMaxBatchSpans;
  Duration batch_delay = defaults::kTracingBatchDelay;
  Duration retry_initial_backoff = defaults::kTracingRetryInitialBackoff;
  Duration retry_max_backoff = defaults::kTracingRetryMaxBackoff;
  Duration retry_max_elapsed = defaults::kTracingRetryMaxElapsed;
  Duration shutdown_timeout = defaults::kTracingShutdownTimeout;
};

// TLS termination on the listener. Off while cert_file is empty; the files are read when the snapshot is
// built, so a reload picks up renewed certificates.
enum class TlsVersion { tls1_2, tls1_3 };
enum class ClientCertificateMode { required, optional };
struct TlsConfig {
  std::string cert_file;       // PEM certificate chain, the server's own certificate first
  std::string key_file;        // PEM private key of that certificate
  std::string client_ca_file;  // PEM CAs that sign client certificates; empty = no client certificates
  ClientCertificateMode client_certificate = ClientCertificateMode::required;  // with client_ca_file only
  TlsVersion min_version = TlsVersion::tls1_2;
  std::string ciphers{defaults::kTlsCiphers};  // TLS 1.2 cipher list (OpenSSL syntax)

  bool enabled() const noexcept { return !cert_file.empty(); }
};

// TLS to the upstream: every upstream connection is a TLS client with these settings.
struct UpstreamTlsConfig {
  bool enabled = false;
  std::string ca_file;      // PEM CAs the upstream's certificate must chain to; empty = the system's store
  bool verify = true;       // false: any certificate is taken (an encrypted but unauthenticated link)
  std::string server_name;  // SNI and the name the certificate must carry; empty = the upstream's host
  std::string cert_file;    // our client certificate, for upstreams that require mutual TLS
  std::string key_file;     // its private key
  TlsVersion min_version = TlsVersion::tls1_2;
};

struct Config {
  std::string service = "default";
  HostPort listen{"0.0.0.0", 8080};
  HostPort admin{"127.0.0.1", 9901};
  std::vector<HostPort> upstreams;
  unsigned workers = 0;  // 0 = std::thread::hardware_concurrency()
  Limits limits;
  Http2Limits http2;
  Timeouts timeouts;
  PoolSettings pool;
  Duration drain_delay = defaults::kDrainDelay;
  Duration drain_timeout = defaults::kDrainTimeout;
  AccessLogMode access_log = AccessLogMode::stdout_;
  std::string access_log_path;
  // When false, X-Forwarded-Proto/-Host from the client are replaced; when true they are kept.
  bool trust_forwarded_headers = false;
  UnmatchedRoutes unmatched_routes = UnmatchedRoutes::forward;
  MetricsConfig metrics;
  UserIdentityConfig user_identity;
  TracingConfig tracing;
  TlsConfig tls;
  UpstreamTlsConfig upstream_tls;
  std::vector<RouteConfig> routes;
  std::string config_path;  // the file it was loaded from, for SIGHUP; empty in zero-config mode
};

}  // namespace apimeter
