// The settings table: one row per setting, from its flag, YAML key and help line to the Config field it
// writes, with the generic assign/render functions behind the rows. Adding a setting is one row in kOptions.
// Parsing only (through value_syntax.hpp): never reads files or the environment, never compares one setting
// with another.
#include "control/options.hpp"

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

namespace apimeter {
namespace {

using namespace std::chrono_literals;

// (object.*First).*Rest... : the field a member-pointer path names, const if `object` is.
template <auto First, auto... Rest>
auto& field(auto& object) {
  if constexpr (sizeof...(Rest) == 0) {
    return object.*First;
  } else {
    return field<Rest...>(object.*First);
  }
}

// The generic row behind every plain field: the kind picks the parser, the member path picks the field.
template <ValueKind K, auto... Path>
bool assign_field(Config& config, std::string_view text, std::string& error) {
  auto& target = field<Path...>(config);
  using T = std::remove_cvref_t<decltype(target)>;
  if constexpr (K == ValueKind::duration) {
    static_assert(std::is_same_v<T, Duration>);
    Duration value{};
    if (!parse_duration(text, value, error)) return false;
    target = value;
  } else if constexpr (K == ValueKind::size || K == ValueKind::count) {
    static_assert(std::is_unsigned_v<T>);
    std::uint64_t value = 0;
    if (!(K == ValueKind::size ? parse_size(text, value, error) : parse_count(text, value, error)))
      return false;
    if (value > std::numeric_limits<T>::max()) {
      error = "too large (at most " + std::to_string(std::numeric_limits<T>::max()) + ")";
      return false;
    }
    target = static_cast<T>(value);
  } else if constexpr (K == ValueKind::boolean) {
    static_assert(std::is_same_v<T, bool>);
    bool value = false;
    if (!parse_bool(text, value, error)) return false;
    target = value;
  } else if constexpr (K == ValueKind::string || K == ValueKind::optional_path) {
    static_assert(std::is_same_v<T, std::string>);
    target = std::string(text);
  } else if constexpr (K == ValueKind::path) {
    static_assert(std::is_same_v<T, std::string>);
    if (text.empty()) {
      error = "empty; expected a file name";
      return false;
    }
    target = std::string(text);
  } else if constexpr (K == ValueKind::ratio) {
    static_assert(std::is_same_v<T, double>);
    double value = 0;
    if (!parse_ratio(text, value, error)) return false;
    target = value;
  } else if constexpr (K == ValueKind::bind_address) {
    static_assert(std::is_same_v<T, HostPort>);
    HostPort value;
    if (!parse_host_port(text, /*allow_port_zero=*/true, value, error)) return false;
    target = std::move(value);
  } else if constexpr (K == ValueKind::endpoint_list) {
    static_assert(std::is_same_v<T, std::vector<HostPort>>);
    std::vector<HostPort> value;
    if (!parse_host_port_list(text, value, error)) return false;
    target = std::move(value);
  } else if constexpr (K == ValueKind::duration_buckets) {
    static_assert(std::is_same_v<T, std::vector<double>>);
    std::vector<double> value;
    if (!parse_duration_buckets(text, value, error)) return false;
    target = std::move(value);
  } else if constexpr (K == ValueKind::size_buckets) {
    static_assert(std::is_same_v<T, std::vector<std::uint64_t>>);
    std::vector<std::uint64_t> value;
    if (!parse_size_buckets(text, value, error)) return false;
    target = std::move(value);
  } else {
    static_assert(K == ValueKind::duration, "this kind needs its own assign function");
  }
  return true;
}

template <ValueKind K, auto... Path>
std::string render_field(const Config& config) {
  const auto& value = field<Path...>(config);
  if constexpr (K == ValueKind::duration) {
    return format_duration(value);
  } else if constexpr (K == ValueKind::size) {
    return format_size(value);
  } else if constexpr (K == ValueKind::count) {
    return std::to_string(value);
  } else if constexpr (K == ValueKind::boolean) {
    return value ? "true" : "false";
  } else if constexpr (K == ValueKind::string || K == ValueKind::path || K == ValueKind::optional_path) {
    return value;
  } else if constexpr (K == ValueKind::ratio) {
    return format_seconds(value);  // the shortest exact decimal
  } else if constexpr (K == ValueKind::bind_address) {
    return value.to_string();
  } else {
    static_assert(K == ValueKind::endpoint_list || K == ValueKind::duration_buckets ||
                  K == ValueKind::size_buckets);
    std::string out;
    for (const auto& item : value) {
      if (!out.empty()) out += ',';
      if constexpr (K == ValueKind::endpoint_list) {
        out += item.to_string();
      } else if constexpr (K == ValueKind::duration_buckets) {
        out += format_seconds(item);
      } else {
        out += format_size(item);
      }
    }
    return out;
  }
}

template <ValueKind K, auto... Path>
constexpr OptionRow row(std::string_view flag, std::string_view yaml_path, std::string_view help) {
  return OptionRow{flag, yaml_path, K, help, &assign_field<K, Path...>, &render_field<K, Path...>};
}

bool assign_access_log(Config& config, std::string_view text, std::string& error) {
  // Words people try for "off" or "stderr" would otherwise silently become file names in the cwd.
  static constexpr std::array<std::string_view, 8> kNotPaths{"stderr", "none", "false", "true",
                                                             "no",     "yes",  "on",    "disabled"};
  if (text.empty()) {
    error = "empty; use stdout, off or a file path";
    return false;
  }
  if (text == "stdout") {
    config.access_log = AccessLogMode::stdout_;
    config.access_log_path.clear();
  } else if (text == "off") {
    config.access_log = AccessLogMode::off;
    config.access_log_path.clear();
  } else if (std::find(kNotPaths.begin(), kNotPaths.end(), text) != kNotPaths.end()) {
    error = "use stdout, off or a file path (write ./" + std::string(text) + " for a file of that name)";
    return false;
  } else {
    config.access_log = AccessLogMode::file;
    config.access_log_path = std::string(text);
  }
  return true;
}

std::string render_access_log(const Config& config) {
  switch (config.access_log) {
    case AccessLogMode::stdout_:
      return "stdout";
    case AccessLogMode::off:
      return "off";
    case AccessLogMode::file:
      return config.access_log_path;
  }
  return "stdout";
}

template <bool HeaderNames, auto... Path>
bool assign_key_values(Config& config, std::string_view text, std::string& error) {
  std::vector<std::pair<std::string, std::string>> parsed;
  if (!text.empty() && !parse_key_values(text, HeaderNames, parsed, error)) return false;
  field<Path...>(config) = std::string(text);
  return true;
}

template <auto... Path>
std::string render_text(const Config& config) {
  return field<Path...>(config);
}

bool assign_tracing_endpoint(Config& config, std::string_view text, std::string& error) {
  HttpUrl url;
  if (!parse_http_url(text, url, error)) return false;
  config.tracing.endpoint = std::string(text);
  return true;
}

bool assign_unmatched_routes(Config& config, std::string_view text, std::string& error) {
  if (text == "forward") {
    config.unmatched_routes = UnmatchedRoutes::forward;
  } else if (text == "reject") {
    config.unmatched_routes = UnmatchedRoutes::reject;
  } else {
    error = "use forward or reject";
    return false;
  }
  return true;
}

std::string render_unmatched_routes(const Config& config) {
  return config.unmatched_routes == UnmatchedRoutes::reject ? "reject" : "forward";
}

// The spellings of an enum setting, in the order messages list them.
template <typename E>
struct EnumName {
  std::string_view text;
  E value;
};

constexpr EnumName<RouteLabel> kRouteLabels[] = {{"template", RouteLabel::path_template},
                                                 {"name", RouteLabel::name}};
constexpr EnumName<IdentitySource> kIdentitySources[] = {
    {"none", IdentitySource::none},
    {"header", IdentitySource::header},
    {"jwt_claim", IdentitySource::jwt_claim},
    {"api_key", IdentitySource::api_key},
    {"cookie", IdentitySource::cookie},
    {"client_address", IdentitySource::client_address},
    {"client_certificate", IdentitySource::client_certificate}};

constexpr EnumName<TlsVersion> kTlsVersions[] = {{"1.2", TlsVersion::tls1_2}, {"1.3", TlsVersion::tls1_3}};
constexpr EnumName<ClientCertificateMode> kClientCertificateModes[] = {
    {"required", ClientCertificateMode::required}, {"optional", ClientCertificateMode::optional}};

constexpr EnumName<tracing::SamplerKind> kSamplers[] = {
    {"parentbased_traceidratio", tracing::SamplerKind::parentbased_traceidratio},
    {"parentbased_always_on", tracing::SamplerKind::parentbased_always_on},
    {"parentbased_always_off", tracing::SamplerKind::parentbased_always_off},
    {"traceidratio", tracing::SamplerKind::traceidratio},
    {"always_on", tracing::SamplerKind::always_on},
    {"always_off", tracing::SamplerKind::always_off}};
constexpr EnumName<tracing::B3Emit> kB3Emits[] = {
    {"off", tracing::B3Emit::off}, {"single", tracing::B3Emit::single}, {"multi", tracing::B3Emit::multi}};
constexpr EnumName<OtlpCompression> kCompressions[] = {{"none", OtlpCompression::none},
                                                       {"gzip", OtlpCompression::gzip}};

template <const auto& Names, auto... Path>
bool assign_enum(Config& config, std::string_view text, std::string& error) {
  for (const auto& name : Names) {
    if (name.text == text) {
      field<Path...>(config) = name.value;
      return true;
    }
  }
  std::vector<std::string_view> spellings;
  for (const auto& name : Names) spellings.push_back(name.text);
  error = "use ";
  for (std::size_t i = 0; i < spellings.size(); ++i) {
    if (i > 0) error += i + 1 == spellings.size() ? " or " : ", ";
    error += spellings[i];
  }
  if (const std::string_view near = closest_match(text, spellings); !near.empty())
    error += " (did you mean " + std::string(near) + "?)";
  return false;
}

template <const auto& Names, auto... Path>
std::string render_enum(const Config& config) {
  for (const auto& name : Names) {
    if (name.value == field<Path...>(config)) return std::string(name.text);
  }
  return std::string(Names[0].text);
}

template <ValueKind K, const auto& Names, auto... Path>
constexpr OptionRow enum_row(std::string_view flag, std::string_view yaml_path, std::string_view help) {
  return OptionRow{flag, yaml_path, K, help, &assign_enum<Names, Path...>, &render_enum<Names, Path...>};
}

using VK = ValueKind;

// Defaults are not repeated here: --help and the example config render them from a default Config, whose
// members are initialised from control/limits.hpp.
constexpr OptionRow kOptions[] = {
    row<VK::path, &Config::config_path>("config", "",
                                        "YAML config file, read before the environment and the flags"),
    row<VK::bind_address, &Config::listen>("listen", "listen",
                                           "address clients connect to; port 0 picks a free port"),
    row<VK::bind_address, &Config::admin>(
        "admin", "admin", "address of /metrics, /healthz and /readyz; port 0 picks a free port"),
    row<VK::endpoint_list, &Config::upstreams>(
        "upstream", "upstreams", "the service to forward to; repeat the flag or comma-separate for several"),
    row<VK::string, &Config::service>("service", "service",
                                      "name of the measured API, the service of every metric"),
    row<VK::count, &Config::workers>("workers", "workers",
                                     "worker threads, one event loop each; 0 = one per CPU"),

    row<VK::optional_path, &Config::tls, &TlsConfig::cert_file>(
        "tls-cert-file", "tls.cert_file",
        "PEM certificate chain the listener serves HTTPS with (and tls.key_file); empty = cleartext HTTP"),
    row<VK::optional_path, &Config::tls, &TlsConfig::key_file>("tls-key-file", "tls.key_file",
                                                               "PEM private key of tls.cert_file"),
    row<VK::optional_path, &Config::tls, &TlsConfig::client_ca_file>(
        "tls-client-ca-file", "tls.client_ca_file",
        "PEM CAs client certificates must chain to (mutual TLS); empty = no client certificates"),
    enum_row<VK::client_certificate_mode, kClientCertificateModes, &Config::tls,
             &TlsConfig::client_certificate>(
        "tls-client-certificate", "tls.client_certificate",
        "with tls.client_ca_file: a client without a valid certificate is refused (required) or served "
        "(optional; one it does present must verify)"),
    enum_row<VK::tls_version, kTlsVersions, &Config::tls, &TlsConfig::min_version>(
        "tls-min-version", "tls.min_version", "oldest TLS version accepted"),
    row<VK::string, &Config::tls, &TlsConfig::ciphers>(
        "tls-ciphers", "tls.ciphers", "TLS 1.2 cipher list in OpenSSL syntax (TLS 1.3 suites are OpenSSL's)"),

    row<VK::boolean, &Config::upstream_tls, &UpstreamTlsConfig::enabled>(
        "upstream-tls", "upstream_tls.enabled", "connect to the upstreams over TLS (HTTPS)"),
    row<VK::optional_path, &Config::upstream_tls, &UpstreamTlsConfig::ca_file>(
        "upstream-tls-ca-file", "upstream_tls.ca_file",
        "PEM CAs the upstream's certificate must chain to; empty = the system's CA store"),
    row<VK::boolean, &Config::upstream_tls, &UpstreamTlsConfig::verify>(
        "upstream-tls-verify", "upstream_tls.verify",
        "verify the upstream's certificate chain and name; false accepts any certificate"),
    row<VK::string, &Config::upstream_tls, &UpstreamTlsConfig::server_name>(
        "upstream-tls-server-name", "upstream_tls.server_name",
        "SNI and the name the upstream's certificate must carry; empty = the host of each upstream"),
    row<VK::optional_path, &Config::upstream_tls, &UpstreamTlsConfig::cert_file>(
        "upstream-tls-cert-file", "upstream_tls.cert_file",
        "PEM client certificate presented to upstreams that require mutual TLS (and upstream_tls.key_file)"),
    row<VK::optional_path, &Config::upstream_tls, &UpstreamTlsConfig::key_file>(
        "upstream-tls-key-file", "upstream_tls.key_file", "PEM private key of upstream_tls.cert_file"),
    enum_row<VK::tls_version, kTlsVersions, &Config::upstream_tls, &UpstreamTlsConfig::min_version>(
        "upstream-tls-min-version", "upstream_tls.min_version", "oldest TLS version spoken to the upstream"),

    row<VK::size, &Config::limits, &Limits::max_request_header_bytes>(
        "max-request-header-bytes", "limits.max_request_header_bytes", "request line plus headers; 431"),
    row<VK::count, &Config::limits, &Limits::max_request_headers>(
        "max-request-headers", "limits.max_request_headers", "header fields in one request; 431"),
    row<VK::size, &Config::limits, &Limits::max_uri_bytes>("max-uri-bytes", "limits.max_uri_bytes",
                                                           "request-target length; 414"),
    row<VK::size, &Config::limits, &Limits::max_request_body_bytes>(
        "max-request-body-bytes", "limits.max_request_body_bytes", "request body; 0 = unlimited; 413"),
    row<VK::size, &Config::limits, &Limits::max_response_header_bytes>(
        "max-response-header-bytes", "limits.max_response_header_bytes",
        "upstream status line plus headers; 502"),
    row<VK::count, &Config::limits, &Limits::max_response_headers>(
        "max-response-headers", "limits.max_response_headers", "header fields in one upstream response; 502"),
    row<VK::count, &Config::http2, &Http2Limits::max_concurrent_streams>(
        "http2-max-concurrent-streams", "http2.max_concurrent_streams",
        "open streams per HTTP/2 client connection (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused"),
    row<VK::count, &Config::limits, &Limits::max_client_connections>(
        "max-client-connections", "limits.max_client_connections",
        "open client connections in the whole process; 0 = unlimited"),
    row<VK::ratio, &Config::limits, &Limits::overload_start>(
        "overload-start", "limits.overload_start",
        "share of max_client_connections from which the client header and idle timeouts shrink toward "
        "their floors, reached at the cap; 1 = never"),

    row<VK::duration, &Config::timeouts, &Timeouts::client_header>(
        "client-header-timeout", "timeouts.client_header",
        "first byte of a request head to its end (408), and a new connection's wait for its first byte"),
    row<VK::duration, &Config::timeouts, &Timeouts::client_idle>(
        "client-idle-timeout", "timeouts.client_idle", "keep-alive wait for the next request, then close"),
    row<VK::duration, &Config::timeouts, &Timeouts::client_header_floor>(
        "client-header-timeout-floor", "timeouts.client_header_floor",
        "what client_header shrinks to as open connections reach the cap (from limits.overload_start)"),
    row<VK::duration, &Config::timeouts, &Timeouts::client_idle_floor>(
        "client-idle-timeout-floor", "timeouts.client_idle_floor",
        "what client_idle shrinks to as open connections reach the cap (from limits.overload_start)"),
    row<VK::duration, &Config::timeouts, &Timeouts::client_body>(
        "client-body-timeout", "timeouts.client_body", "between two reads of a request body; 408"),
    row<VK::duration, &Config::timeouts, &Timeouts::upstream_connect>(
        "upstream-connect-timeout", "timeouts.upstream_connect", "TCP connect to the upstream; 503"),
    row<VK::duration, &Config::timeouts, &Timeouts::upstream_response>(
        "upstream-response-timeout", "timeouts.upstream_response",
        "request sent to upstream response head (time to first byte); routes may override; 504"),
    row<VK::duration, &Config::timeouts, &Timeouts::upstream_body>(
        "upstream-body-timeout", "timeouts.upstream_body", "between two reads of an upstream response body"),
    row<VK::duration, &Config::timeouts, &Timeouts::request>("request-timeout", "timeouts.request",
                                                             "whole exchange; routes may override; 504"),
    row<VK::duration, &Config::timeouts, &Timeouts::tunnel_idle>(
        "tunnel-idle-timeout", "timeouts.tunnel_idle", "upgraded (WebSocket) connection with no traffic"),

    row<VK::count, &Config::pool, &PoolSettings::max_idle>(
        "pool-max-idle", "pool.max_idle",
        "idle keep-alive upstream connections kept per worker and upstream"),
    row<VK::duration, &Config::pool, &PoolSettings::idle_timeout>(
        "pool-idle-timeout", "pool.idle_timeout", "a pooled upstream connection idle this long is closed"),

    row<VK::duration, &Config::drain_delay>(
        "drain-delay", "drain.delay", "on SIGTERM, /readyz says 503 this long while traffic is still served"),
    row<VK::duration, &Config::drain_timeout>("drain-timeout", "drain.timeout",
                                              "then in-flight requests get this long before they are cut"),

    OptionRow{"access-log", "access_log", VK::access_log,
              "stdout, off, or a file to append one line per request to", &assign_access_log,
              &render_access_log},
    row<VK::boolean, &Config::trust_forwarded_headers>(
        "trust-forwarded-headers", "trust_forwarded_headers",
        "keep the client's X-Forwarded-Proto/-Host (true) or replace them (false)"),
    OptionRow{"unmatched-routes", "unmatched_routes", VK::unmatched_routes,
              "a request no route matches: forward it (path label is templated) or reject it with 404",
              &assign_unmatched_routes, &render_unmatched_routes},

    row<VK::boolean, &Config::metrics, &MetricsConfig::enabled>(
        "metrics-enabled", "metrics.enabled", "record traffic metrics; false records nothing"),
    enum_row<VK::route_label, kRouteLabels, &Config::metrics, &MetricsConfig::route_label>(
        "metrics-route-label", "metrics.route_label",
        "the http_route label of a configured route: its template/pattern or its name"),
    row<VK::duration_buckets, &Config::metrics, &MetricsConfig::duration_buckets>(
        "metrics-duration-buckets", "metrics.duration_buckets",
        "request duration histogram bounds, increasing; routes may override"),
    row<VK::size_buckets, &Config::metrics, &MetricsConfig::size_buckets>(
        "metrics-size-buckets", "metrics.size_buckets", "request and response body size histogram bounds"),
    row<VK::count, &Config::metrics, &MetricsConfig::learned_templates>(
        "metrics-learned-templates", "metrics.learned_templates",
        "route templates learned from unmatched paths; beyond it they share one label"),
    row<VK::count, &Config::metrics, &MetricsConfig::top_users>(
        "metrics-top-users", "metrics.top_users",
        "heaviest users that get their own series; 0 = no per-user metrics"),
    row<VK::boolean, &Config::metrics, &MetricsConfig::hash_user_ids>(
        "metrics-hash-user-ids", "metrics.hash_user_ids",
        "export user ids hashed instead of as sent (they are personal data)"),
    row<VK::count, &Config::metrics, &MetricsConfig::max_series>(
        "metrics-max-series", "metrics.max_series",
        "label sets over all request metrics; new ones beyond it are dropped and counted"),

    enum_row<VK::identity_source, kIdentitySources, &Config::user_identity, &UserIdentityConfig::source>(
        "user-identity-source", "user_identity.source",
        "where a request's user id comes from (SOURCE below); jwt_claim reads a Bearer token, api_key "
        "is hashed"),
    row<VK::string, &Config::user_identity, &UserIdentityConfig::name>(
        "user-identity-name", "user_identity.name",
        "the header, claim or cookie to read; if empty: X-User-Id (header), X-Api-Key (api_key), sub "
        "(jwt_claim)"),

    row<VK::boolean, &Config::tracing, &TracingConfig::enabled>(
        "tracing-enabled", "tracing.enabled", "trace requests and export spans over OTLP/HTTP"),
    OptionRow{"tracing-endpoint", "tracing.endpoint", VK::http_url,
              "the collector's OTLP/HTTP traces URL (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)",
              &assign_tracing_endpoint, &render_text<&Config::tracing, &TracingConfig::endpoint>},
    row<VK::optional_path, &Config::tracing, &TracingConfig::ca_file>(
        "tracing-ca-file", "tracing.ca_file",
        "https endpoint: PEM CAs its certificate must chain to; empty = the system's "
        "(OTEL_EXPORTER_OTLP_CERTIFICATE)"),
    OptionRow{"tracing-headers", "tracing.headers", VK::key_value_list,
              "headers sent with every export, e.g. authorization=Bearer%20x (OTEL_EXPORTER_OTLP_HEADERS)",
              &assign_key_values<true, &Config::tracing, &TracingConfig::headers>,
              &render_text<&Config::tracing, &TracingConfig::headers>},
    enum_row<VK::compression, kCompressions, &Config::tracing, &TracingConfig::compression>(
        "tracing-compression", "tracing.compression", "export bodies compressed with gzip, or not"),
    row<VK::duration, &Config::tracing, &TracingConfig::export_timeout>(
        "tracing-export-timeout", "tracing.export_timeout",
        "one export request to the collector, connect included"),
    enum_row<VK::trace_sampler, kSamplers, &Config::tracing, &TracingConfig::sampler>(
        "tracing-sampler", "tracing.sampler", "head sampler, by its OTEL_TRACES_SAMPLER name"),
    row<VK::ratio, &Config::tracing, &TracingConfig::sampler_ratio>(
        "tracing-sampler-ratio", "tracing.sampler_ratio",
        "share of root traces the traceidratio samplers keep (OTEL_TRACES_SAMPLER_ARG)"),
    row<VK::boolean, &Config::tracing, &TracingConfig::tail_errors>(
        "tracing-tail-errors", "tracing.tail_errors",
        "also export the proxy's spans of unsampled requests that ended in 5xx or failed"),
    row<VK::duration, &Config::tracing, &TracingConfig::tail_latency>(
        "tracing-tail-latency", "tracing.tail_latency",
        "also export the proxy's spans of unsampled requests at least this slow; 0 = off"),
    enum_row<VK::b3_propagation, kB3Emits, &Config::tracing, &TracingConfig::b3>(
        "tracing-b3", "tracing.b3", "B3 headers to the upstream besides traceparent: off, single or multi"),
    row<VK::boolean, &Config::tracing, &TracingConfig::capture_query>(
        "tracing-capture-query", "tracing.capture_query",
        "record the query string (url.query); it may hold secrets"),
    row<VK::string, &Config::tracing, &TracingConfig::service_name>(
        "tracing-service-name", "tracing.service_name",
        "service.name of the spans; if empty: service (OTEL_SERVICE_NAME)"),
    OptionRow{"tracing-resource-attributes", "tracing.resource_attributes", VK::key_value_list,
              "extra resource attributes, e.g. deployment.environment=prod (OTEL_RESOURCE_ATTRIBUTES)",
              &assign_key_values<false, &Config::tracing, &TracingConfig::resource_attributes>,
              &render_text<&Config::tracing, &TracingConfig::resource_attributes>},
    row<VK::count, &Config::tracing, &TracingConfig::max_queue_spans>(
        "tracing-max-queue-spans", "tracing.max_queue_spans",
        "spans waiting for export over all workers; beyond it new spans are dropped and counted"),
    row<VK::count, &Config::tracing, &TracingConfig::max_batch_spans>(
        "tracing-max-batch-spans", "tracing.max_batch_spans", "spans in one export request"),
    row<VK::duration, &Config::tracing, &TracingConfig::batch_delay>(
        "tracing-batch-delay", "tracing.batch_delay", "longest wait before a partial batch is sent"),
    row<VK::duration, &Config::tracing, &TracingConfig::retry_initial_backoff>(
        "tracing-retry-initial-backoff", "tracing.retry_initial_backoff",
        "first wait before retrying a failed export; doubles up to the max, with jitter"),
    row<VK::duration, &Config::tracing, &TracingConfig::retry_max_backoff>(
        "tracing-retry-max-backoff", "tracing.retry_max_backoff", "longest wait between two export attempts"),
    row<VK::duration, &Config::tracing, &TracingConfig::retry_max_elapsed>(
        "tracing-retry-max-elapsed", "tracing.retry_max_elapsed",
        "a batch still failing after this long is dropped and counted"),
    row<VK::duration, &Config::tracing, &TracingConfig::shutdown_timeout>(
        "tracing-shutdown-timeout", "tracing.shutdown_timeout",
        "on shutdown, queued spans get this long to be exported"),
};

}  // namespace

std::string OptionRow::env_name() const {
  std::string name = "APIMETER_";
  for (char c : flag) name += c == '-' ? '_' : static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return name;
}

std::span<const OptionRow> option_table() noexcept {
  return kOptions;
}

const OptionRow* find_option_by_flag(std::string_view flag) noexcept {
  for (const OptionRow& option : kOptions) {
    if (option.flag == flag) return &option;
  }
  return nullptr;
}

const OptionRow* find_option_by_env(std::string_view env_name) noexcept {
  constexpr std::string_view kPrefix = "APIMETER_";
  if (!env_name.starts_with(kPrefix)) return nullptr;
  env_name.remove_prefix(kPrefix.size());
  for (const OptionRow& option : kOptions) {
    if (option.flag.size() != env_name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < env_name.size() && same; ++i) {
      const char c = option.flag[i];
      const char upper = c == '-' ? '_' : static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
      same = upper == env_name[i];
    }
    if (same) return &option;
  }
  return nullptr;
}

const OptionRow* find_option_by_yaml(std::string_view yaml_path) noexcept {
  if (yaml_path.empty()) return nullptr;
  for (const OptionRow& option : kOptions) {
    if (option.yaml_path == yaml_path) return &option;
  }
  return nullptr;
}

std::string_view value_placeholder(ValueKind kind) noexcept {
  switch (kind) {
    case ValueKind::duration:
      return "DURATION";
    case ValueKind::size:
      return "SIZE";
    case ValueKind::count:
      return "COUNT";
    case ValueKind::boolean:
      return "BOOL";
    case ValueKind::string:
      return "TEXT";
    case ValueKind::path:
    case ValueKind::optional_path:
      return "FILE";
    case ValueKind::bind_address:
      return "HOST:PORT";
    case ValueKind::endpoint_list:
      return "HOST:PORT[,...]";
    case ValueKind::access_log:
      return "stdout|off|FILE";
    case ValueKind::unmatched_routes:
      return "forward|reject";
    case ValueKind::duration_buckets:
      return "SECONDS[,...]";
    case ValueKind::size_buckets:
      return "SIZE[,...]";
    case ValueKind::route_label:
      return "template|name";
    case ValueKind::identity_source:
      return "SOURCE";
    case ValueKind::ratio:
      return "RATIO";
    case ValueKind::trace_sampler:
      return "SAMPLER";
    case ValueKind::b3_propagation:
      return "off|single|multi";
    case ValueKind::compression:
      return "none|gzip";
    case ValueKind::key_value_list:
      return "KEY=VALUE[,...]";
    case ValueKind::http_url:
      return "URL";
    case ValueKind::tls_version:
      return "1.2|1.3";
    case ValueKind::client_certificate_mode:
      return "required|optional";
  }
  return "VALUE";
}

std::string_view value_description(ValueKind kind) noexcept {
  switch (kind) {
    case ValueKind::duration:
      return "a duration like 10s, 250ms, 2m or 1h";
    case ValueKind::size:
      return "a size like 512, 16KiB or 1MiB";
    case ValueKind::count:
      return "a whole number";
    case ValueKind::boolean:
      return "true or false";
    case ValueKind::string:
      return "a string";
    case ValueKind::path:
      return "a file name";
    case ValueKind::optional_path:
      return "a file name, or empty for none";
    case ValueKind::bind_address:
      return "a host:port like 0.0.0.0:8080";
    case ValueKind::endpoint_list:
      return "a host:port like shop:3000, or a list of them";
    case ValueKind::access_log:
      return "stdout, off or a file path";
    case ValueKind::unmatched_routes:
      return "forward or reject";
    case ValueKind::duration_buckets:
      return "increasing durations like [5ms, 100ms, 1s] or plain seconds like [0.005, 0.1, 1]";
    case ValueKind::size_buckets:
      return "increasing sizes like [64, 1KiB, 1MiB]";
    case ValueKind::route_label:
      return "template or name";
    case ValueKind::identity_source:
      return "none, header, jwt_claim, api_key, cookie, client_address or client_certificate";
    case ValueKind::ratio:
      return "a number from 0 to 1 like 0.01";
    case ValueKind::trace_sampler:
      return "parentbased_traceidratio, parentbased_always_on, parentbased_always_off, traceidratio, "
             "always_on or always_off";
    case ValueKind::b3_propagation:
      return "off, single or multi";
    case ValueKind::compression:
      return "none or gzip";
    case ValueKind::key_value_list:
      return "key=value pairs separated by commas";
    case ValueKind::http_url:
      return "a URL like http://otel-collector:4318/v1/traces or https://collector.example:4318/v1/traces";
    case ValueKind::tls_version:
      return "1.2 or 1.3";
    case ValueKind::client_certificate_mode:
      return "required or optional";
  }
  return "a value";
}

std::string_view item_description(ValueKind kind) noexcept {
  switch (kind) {
    case ValueKind::duration_buckets:
      return "a duration like 100ms or plain seconds like 0.1";
    case ValueKind::size_buckets:
      return value_description(ValueKind::size);
    default:
      return value_description(kind);
  }
}

}  // namespace apimeter
