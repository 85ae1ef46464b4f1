// Every family apimeter exports, declared once: name, type and help (the README's metric table mirrors
// this list). Names follow the OpenTelemetry HTTP semantic conventions rendered for Prometheus; ours start
// with apimeter_. Help texts must stay single-line without backslashes (prometheus-cpp does not escape them).
#pragma once

#include <string_view>

#include <prometheus/metric_type.h>

namespace apimeter::metrics {

struct FamilyName {
  std::string_view name;
  prometheus::MetricType type;
  std::string_view help;
};

namespace families {
using T = prometheus::MetricType;
// Request families: service, http_route, http_request_method, http_response_status_code (absent when no
// response was sent), error_type (only when the proxy answered or failed the exchange), extra labels.
inline constexpr FamilyName kServerDuration{"http_server_request_duration_seconds", T::Histogram,
    "Duration of HTTP server requests: first byte of the request head to the last byte of the response."};
inline constexpr FamilyName kReceivedBytes{"apimeter_received_bytes_total", T::Counter,
    "Bytes received from clients, request heads included."};
inline constexpr FamilyName kSentBytes{"apimeter_sent_bytes_total", T::Counter,
    "Bytes sent to clients, response heads included."};
// Route families: service, http_route (method and status are on the request families).
inline constexpr FamilyName kClientDuration{"http_client_request_duration_seconds", T::Histogram,
    "Duration of the upstream exchange: connection taken to upstream response fully read."};
inline constexpr FamilyName kTimeToFirstByte{"apimeter_upstream_time_to_first_byte_seconds", T::Histogram,
    "Upstream time to first byte: connection taken to the first byte of the response head."};
inline constexpr FamilyName kOverhead{"apimeter_proxy_overhead_seconds", T::Histogram,
    "Time the client waited on apimeter itself: request duration minus the upstream exchange."};
inline constexpr FamilyName kRequestBody{"http_server_request_body_size_bytes", T::Histogram,
    "Size of request bodies, after de-chunking."};
inline constexpr FamilyName kResponseBody{"http_server_response_body_size_bytes", T::Histogram,
    "Size of response bodies, after de-chunking."};
// Concurrency: service (plus http_connection_state or error_type).
inline constexpr FamilyName kActiveRequests{"http_server_active_requests", T::Gauge,
    "Requests being served."};
inline constexpr FamilyName kActiveConnections{"apimeter_client_connections_active", T::Gauge,
    "Open client connections."};
inline constexpr FamilyName kConnectionsTotal{"apimeter_client_connections_total", T::Counter,
    "Client connections accepted."};
inline constexpr FamilyName kConnectionsReclaimed{"apimeter_client_connections_reclaimed_total", T::Counter,
    "Client connections apimeter closed to keep room for new ones, by reason: idle_at_limit (at "
    "limits.max_client_connections, the one idle the longest, silent or between keep-alive requests), "
    "overload_idle_timeout and overload_header_timeout (a keep-alive wait or a request head that ran out "
    "of a timeout shrunk because connections were past limits.overload_start of the cap)."};
inline constexpr FamilyName kConnectionsLimit{"apimeter_client_connections_limit", T::Gauge,
    "Open client connections at which idle ones are reclaimed for new clients, or accepting pauses "
    "(limits.max_client_connections); 0 means unlimited."};
// TLS on the listener: service (handshakes: result, then tls_protocol_version or error_type).
inline constexpr FamilyName kTlsHandshakes{
    "apimeter_tls_handshakes_total", T::Counter,
    "TLS handshakes on the listener: result=success by tls_protocol_version, result=failure by error_type "
    "(timeout, closed, http_request, unsupported_protocol, no_shared_cipher, no_application_protocol, "
    "certificate_required, certificate_expired, bad_certificate, peer_rejected_certificate, error)."};
inline constexpr FamilyName kTlsResumed{
    "apimeter_tls_sessions_resumed_total", T::Counter,
    "Successful TLS handshakes that resumed an earlier session from its ticket."};
inline constexpr FamilyName kTlsHandshakeDuration{"apimeter_tls_handshake_duration_seconds", T::Histogram,
                                                  "Duration of successful TLS handshakes: connection "
                                                  "accepted to handshake done, client round trips included."};
inline constexpr FamilyName kTlsCertificateExpiry{
    "apimeter_tls_certificate_expiry_seconds", T::Gauge,
    "Seconds until the certificate the listener serves expires (its notAfter); negative once it has."};
inline constexpr FamilyName kUpstreamConnections{"http_client_open_connections", T::Gauge,
    "Upstream connections by state: idle in the pool, or active (serving a request)."};
inline constexpr FamilyName kConnectErrors{
    "apimeter_upstream_connect_errors_total", T::Counter,
    "Failed upstream connection attempts by error type (TCP: refused, timeout, ...; TLS: tls_*)."};
// TLS to the upstreams: service (handshakes: tls_protocol_version).
inline constexpr FamilyName kUpstreamTlsHandshakes{
    "apimeter_upstream_tls_handshakes_total", T::Counter,
    "Successful TLS handshakes with upstreams by tls_protocol_version; failed ones are "
    "apimeter_upstream_connect_errors_total{error_type=~\"tls_.*\"}."};
inline constexpr FamilyName kUpstreamTlsResumed{
    "apimeter_upstream_tls_sessions_resumed_total", T::Counter,
    "Successful TLS handshakes with upstreams that resumed the worker's last session with that endpoint."};
// Users: service, user.
inline constexpr FamilyName kUserRequests{"apimeter_user_requests_total", T::Counter,
    "Requests of the heaviest users; _other holds everyone else and _none requests without an identity."};
inline constexpr FamilyName kUserActive{"apimeter_user_active_requests", T::Gauge,
    "Requests in flight of the listed users."};
inline constexpr FamilyName kDistinctUsers{"apimeter_distinct_users_last_minute", T::Gauge,
    "Distinct users seen in the last minute (HyperLogLog estimate, standard error 0.8 %)."};
// Self-protection and routes: service.
inline constexpr FamilyName kSeriesDropped{"apimeter_metric_series_dropped_total", T::Counter,
    "Observations not recorded because their new series would exceed the series cap."};
inline constexpr FamilyName kLearnedRoutes{"apimeter_learned_routes", T::Gauge,
    "Route templates learned from unmatched paths and exported under their own http_route."};
// The access log: service.
inline constexpr FamilyName kAccessLogDropped{"apimeter_access_log_lines_dropped_total", T::Counter,
    "Access log lines dropped because the log sink could not keep up."};
// Process and build: no labels (reloads: result).
inline constexpr FamilyName kCpu{"process_cpu_seconds_total", T::Counter, "Total user and system CPU time spent in seconds."};
inline constexpr FamilyName kResident{"process_resident_memory_bytes", T::Gauge, "Resident memory size in bytes."};
inline constexpr FamilyName kVirtual{"process_virtual_memory_bytes", T::Gauge, "Virtual memory size in bytes."};
inline constexpr FamilyName kOpenFds{"process_open_fds", T::Gauge, "Number of open file descriptors."};
inline constexpr FamilyName kMaxFds{"process_max_fds", T::Gauge, "Maximum number of open file descriptors."};
inline constexpr FamilyName kStartTime{"process_start_time_seconds", T::Gauge, "Start time of the process since unix epoch in seconds."};
inline constexpr FamilyName kBuildInfo{"apimeter_build_info", T::Gauge, "apimeter version and revision; the value is always 1."};
inline constexpr FamilyName kReloads{"apimeter_config_reloads_total", T::Counter, "Configuration reloads by result."};
inline constexpr FamilyName kLastReload{"apimeter_config_last_reload_success_timestamp_seconds", T::Gauge,
    "Time of the last successful configuration load or reload, unix seconds."};
// Tracing: the span exporter (service, plus reason or result).
inline constexpr FamilyName kTracingSpansExported{"apimeter_tracing_spans_exported_total", T::Counter,
    "Spans the collector accepted."};
inline constexpr FamilyName kTracingSpansDropped{"apimeter_tracing_spans_dropped_total", T::Counter,
    "Spans dropped before export by reason: queue_full, export_failed, rejected (by the collector), shutdown."};
inline constexpr FamilyName kTracingExportRequests{"apimeter_tracing_export_requests_total", T::Counter,
    "OTLP export requests by result: success, retryable_error (429, 502, 503, 504, connection), error."};
inline constexpr FamilyName kTracingExportDuration{"apimeter_tracing_export_duration_seconds", T::Histogram,
    "Duration of OTLP export requests, connect included."};
inline constexpr FamilyName kTracingQueue{"apimeter_tracing_queue_spans", T::Gauge,
    "Spans waiting for export, in the workers' buffers and the batch being sent."};
}  // namespace families

}  // namespace apimeter::metrics
