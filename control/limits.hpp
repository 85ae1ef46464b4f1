// Named defaults for every limit and timeout of the data plane, in one place.
// Config, flags, --help and the README all read these; nothing else hard-codes a limit.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace apimeter {

using Duration = std::chrono::milliseconds;

namespace defaults {
using namespace std::chrono_literals;

// Request parsing limits (status when exceeded).
inline constexpr std::size_t kMaxRequestHeaderBytes = 16 * 1024;   // whole head, 431
inline constexpr std::size_t kMaxRequestHeaders = 100;             // field count, 431
inline constexpr std::size_t kMaxUriBytes = 8 * 1024;              // request-target, 414
inline constexpr std::uint64_t kMaxRequestBodyBytes = 0;           // 0 = unlimited, else 413
inline constexpr std::size_t kMaxResponseHeaderBytes = 16 * 1024;  // upstream head, 502
inline constexpr std::size_t kMaxResponseHeaders = 100;            // upstream field count, 502
inline constexpr std::size_t kMaxClientConnections = 10000;        // whole process; 0 = unlimited
// Share of max_client_connections from which the client header and idle timeouts shrink, linearly, to
// their floors below at the cap (Envoy's overload manager "reduce_timeouts"); 1 = never.
inline constexpr double kOverloadStart = 0.8;

// Timeouts; 0 disables the one it names.
inline constexpr Duration kClientHeaderTimeout = 10s;       // first byte of a head to its end, 408
inline constexpr Duration kClientIdleTimeout = 60s;         // keep-alive wait for the next request
inline constexpr Duration kClientBodyTimeout = 60s;         // between two reads of a request body, 408
inline constexpr Duration kUpstreamConnectTimeout = 5s;     // TCP connect, 503
inline constexpr Duration kUpstreamResponseTimeout = 60s;   // request sent to response head (TTFB), 504
inline constexpr Duration kUpstreamBodyTimeout = 60s;       // between two reads of a response body
inline constexpr Duration kRequestTimeout = 0s;             // whole exchange, per route, 504
inline constexpr Duration kTunnelIdleTimeout = 600s;        // upgraded (WebSocket) connection idle
inline constexpr Duration kClientHeaderTimeoutFloor = 2s;   // client_header at the connection cap
inline constexpr Duration kClientIdleTimeoutFloor = 1s;     // client_idle at the connection cap

// Upstream keep-alive pool, per worker and endpoint.
inline constexpr std::size_t kPoolMaxIdle = 64;
inline constexpr Duration kPoolIdleTimeout = 30s;

// Operations.
inline constexpr Duration kDrainDelay = 5s;     // /readyz is 503 but we keep serving
inline constexpr Duration kDrainTimeout = 30s;  // wait for in-flight requests after that

// HTTP/2 client connections (http2.*). The header block is bounded by limits.max_request_header_bytes
// (SETTINGS_MAX_HEADER_LIST_SIZE); the flood limits below are nghttp2's, set explicitly so they hold
// whatever the library's defaults are.
inline constexpr std::size_t kHttp2MaxConcurrentStreams =
    100;                                                  // SETTINGS_MAX_CONCURRENT_STREAMS; REFUSED_STREAM
inline constexpr std::size_t kHttp2MaxContinuations = 8;  // CONTINUATION frames per header block
inline constexpr std::size_t kHttp2MaxSettingsEntries = 32;  // entries in one SETTINGS frame
inline constexpr std::size_t kHttp2MaxOutboundAck = 1000;    // SETTINGS/PING acks queued unsent
inline constexpr std::size_t kHttp2StreamResetBurst = 1000;  // stream resets received, and sent: burst,
inline constexpr std::size_t kHttp2StreamResetRate = 33;     // then per second (CVE-2023-44487, -2025-8671)
// A stream's receive window: RFC 9113's initial 65,535 bytes, which a client may use before it has our
// SETTINGS; a stream's request body buffer holds exactly that much, so DATA never outgrows it.
inline constexpr std::size_t kHttp2StreamWindowBytes = 65535;
// The connection's receive window: request body buffered over all its streams at once.
inline constexpr std::size_t kHttp2ConnectionWindowBytes = 1 << 20;

// Size of one pooled I/O buffer; raised to fit the configured header limits.
inline constexpr std::size_t kIoBufferBytes = 16 * 1024;

// Traffic metrics (metrics.*). Histogram bounds: durations in seconds, the OpenTelemetry HTTP semantic
// conventions' set; body sizes in bytes, powers of 4 from 64 B to 64 MiB.
inline constexpr double kMetricsDurationBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                                     0.5,   0.75, 1,     2.5,  5,     7.5, 10};
inline constexpr std::uint64_t kMetricsSizeBuckets[] = {
    64, 256, 1024, 4 * 1024, 16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024, 4 << 20, 16 << 20, 64 << 20};
inline constexpr std::size_t kMetricsLearnedTemplates = 200;     // learned route templates per service
inline constexpr std::size_t kMetricsTopUsers = 20;              // K of the heavy-hitter user list; 0 = off
inline constexpr std::size_t kMetricsMaxSeries = 50000;          // label sets over all request families
inline constexpr std::size_t kMetricsMaxExtraLabels = 4;         // each one multiplies the series count
inline constexpr std::size_t kMetricsMaxExtraLabelValues = 100;  // max_values of one extra label
inline constexpr std::size_t kMetricsMaxExtraLabelValueBytes = 64;  // one allowed value of an extra label

// User identity (user_identity.*): the name used when user_identity.name is empty.
inline constexpr std::string_view kUserIdHeader = "X-User-Id";  // source: header
inline constexpr std::string_view kApiKeyHeader = "X-Api-Key";  // source: api_key
inline constexpr std::string_view kUserIdClaim = "sub";         // source: jwt_claim

// Tracing (tracing.*): OTLP/HTTP export and the batch span processor's defaults, as the OTel SDKs have them
// except the batch delay (1 s rather than 5 s: a sidecar's spans should reach the collector promptly).
inline constexpr std::string_view kTracingEndpoint = "http://127.0.0.1:4318/v1/traces";
inline constexpr Duration kTracingExportTimeout = 10s;      // one export request; OTEL_EXPORTER_OTLP_TIMEOUT
inline constexpr std::size_t kTracingMaxQueueSpans = 2048;  // over all workers; OTEL_BSP_MAX_QUEUE_SIZE
inline constexpr std::size_t kTracingMaxBatchSpans = 512;   // OTEL_BSP_MAX_EXPORT_BATCH_SIZE
inline constexpr Duration kTracingBatchDelay = 1s;          // OTEL_BSP_SCHEDULE_DELAY
inline constexpr Duration kTracingRetryInitialBackoff = 1s;
inline constexpr Duration kTracingRetryMaxBackoff = 30s;
inline constexpr Duration kTracingRetryMaxElapsed = 60s;    // then the batch is dropped
inline constexpr Duration kTracingShutdownTimeout = 5s;     // flush on drain
inline constexpr std::size_t kTracingRingBytesPerWorker = 4 << 20;  // encoded spans waiting per worker

// TLS on the listener (tls.*): TLS 1.2 ciphers of Mozilla's "intermediate" profile (forward secrecy and
// AEAD only); TLS 1.3 keeps OpenSSL's default suites, which are all of that kind.
inline constexpr std::string_view kTlsCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
}  // namespace defaults

struct Limits {
  std::size_t max_request_header_bytes = defaults::kMaxRequestHeaderBytes;
  std::size_t max_request_headers = defaults::kMaxRequestHeaders;
  std::size_t max_uri_bytes = defaults::kMaxUriBytes;
  std::uint64_t max_request_body_bytes = defaults::kMaxRequestBodyBytes;
  std::size_t max_response_header_bytes = defaults::kMaxResponseHeaderBytes;
  std::size_t max_response_headers = defaults::kMaxResponseHeaders;
  std::size_t max_client_connections = defaults::kMaxClientConnections;
  double overload_start = defaults::kOverloadStart;
};

struct Timeouts {
  Duration client_header = defaults::kClientHeaderTimeout;
  Duration client_idle = defaults::kClientIdleTimeout;
  Duration client_body = defaults::kClientBodyTimeout;
  Duration upstream_connect = defaults::kUpstreamConnectTimeout;
  Duration upstream_response = defaults::kUpstreamResponseTimeout;
  Duration upstream_body = defaults::kUpstreamBodyTimeout;
  Duration request = defaults::kRequestTimeout;
  Duration tunnel_idle = defaults::kTunnelIdleTimeout;
  Duration client_header_floor = defaults::kClientHeaderTimeoutFloor;
  Duration client_idle_floor = defaults::kClientIdleTimeoutFloor;
};

struct Http2Limits {
  std::size_t max_concurrent_streams = defaults::kHttp2MaxConcurrentStreams;
};

struct PoolSettings {
  std::size_t max_idle = defaults::kPoolMaxIdle;
  Duration idle_timeout = defaults::kPoolIdleTimeout;
};

}  // namespace apimeter
