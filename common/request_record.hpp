// The request record: one plain struct per exchange, filled once along the life of a request by proxy/
// and read by the single "complete" step (access log, metrics, tracing). It is the only bridge between
// proxy/ and metrics/ or tracing/, so it depends on nothing of theirs. It owns no I/O and no heap.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "common/http_version.hpp"
#include "common/trace_context.hpp"

namespace apimeter {

using Clock = std::chrono::steady_clock;

struct RequestRecord {
  // Time points; a default-constructed one means "did not happen".
  Clock::time_point accepted;            // connection accepted (first request) or previous response done
  Clock::time_point head_started;        // first byte of this request's head
  Clock::time_point head_read;           // whole head parsed
  Clock::time_point upstream_started;    // first attempt to take or open an upstream connection
  Clock::time_point upstream_connected;  // pooled connection taken or connect finished
  Clock::time_point upstream_first_byte; // first byte of the upstream response head
  Clock::time_point upstream_done;       // upstream response fully read
  Clock::time_point upstream_given_up;   // the exchange failed before that and stopped waiting on it
  Clock::time_point done;                // last byte sent to the client (or the exchange failed)
  std::chrono::system_clock::time_point wall_start;  // wall clock at head_started: log and span timestamps

  // Wire bytes including heads, and body bytes after de-chunking.
  std::uint64_t received_bytes = 0;       // from the client
  std::uint64_t sent_bytes = 0;           // to the client
  std::uint64_t request_body_bytes = 0;
  std::uint64_t response_body_bytes = 0;

  // Views into the connection's buffers; valid until the complete step returns.
  std::string_view method;
  std::string_view target;
  std::string_view path;
  std::string_view user_agent;
  std::string_view client_address;
  std::uint16_t client_port = 0;
  std::string_view upstream_address;  // "host:port" of the endpoint used, empty if none
  HttpVersion version = HttpVersion::http1_1;  // of the client's request
  std::int32_t route_index = -1;  // configured route in config order; -1 when none matched
  std::string_view route_label;   // its http_route label ("/api/orders/{id}"); empty when none matched
  std::string_view user;          // user identity from the configured source; empty when none
  int status = 0;                 // status sent to the client; 0 if none was sent
  std::string_view error_type;    // error_type label when the proxy failed the exchange; empty otherwise
  bool upstream_reused = false;  // a pooled connection served it
  bool upstream_retried = false; // a stale pooled connection was replaced once
  std::string_view host;          // the request's Host (or absolute-form authority)
  std::uint16_t listen_port = 0;  // the proxy port the client connected to
  std::string_view scheme = "http";       // "https" on a TLS listener
  std::string_view tls_protocol_version;  // "1.2", "1.3" over TLS; empty in cleartext
  int upstream_status = 0;        // status of the upstream's final response head; 0 if none arrived
  TraceContext trace;

  // The durations every sink uses (metrics, span, log), so that they agree; each is named for what it spans.
  struct Interval {
    Clock::time_point start, end;  // both unset when the interval did not happen
    bool happened() const noexcept { return start != Clock::time_point{}; }
    Clock::duration length() const noexcept { return happened() && end > start ? end - start : Clock::duration::zero(); }
  };
  // The whole exchange: first byte of the request head to the last byte sent to the client.
  Clock::duration total() const { return done - head_started; }
  // The upstream leg (CLIENT span, http_client_request_duration_seconds, the proxy overhead, the log's upstream
  // duration): from the first attempt to take or open an upstream connection, so connecting and a retried stale
  // connection count, to the upstream response fully read, or to the moment the exchange gave up on it
  // (a timeout, a reset), or to the end of the exchange when neither was recorded.
  Interval upstream_leg() const noexcept {
    const Clock::time_point start = upstream_started != Clock::time_point{} ? upstream_started : upstream_connected;
    if (start == Clock::time_point{}) return {};
    if (upstream_done != Clock::time_point{}) return {start, upstream_done};
    return {start, upstream_given_up != Clock::time_point{} ? upstream_given_up : done};
  }
  // The upstream response was read to its end (only those are observed as client request durations).
  bool upstream_completed() const noexcept { return upstream_leg().happened() && upstream_done != Clock::time_point{}; }
  Clock::duration upstream_time() const noexcept { return upstream_leg().length(); }
  // Connection taken (pooled or connected) to the first byte of the upstream response head; did not happen
  // unless both did.
  Interval time_to_first_byte() const noexcept {
    if (upstream_connected == Clock::time_point{} || upstream_first_byte == Clock::time_point{}) return {};
    return {upstream_connected, upstream_first_byte};
  }
  // Whole nanoseconds of a duration derived above; negative (a time point missing) counts as 0.
  static std::uint64_t nanoseconds(Clock::duration d) noexcept {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    return ns > 0 ? static_cast<std::uint64_t>(ns) : 0;
  }
  // Unix nanoseconds of a time point of this exchange (spans); 0 for one that did not happen.
  std::uint64_t unix_nanos(Clock::time_point at) const {
    if (at == Clock::time_point{} || head_started == Clock::time_point{}) return 0;
    const auto wall = wall_start + std::chrono::duration_cast<std::chrono::system_clock::duration>(at - head_started);
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(wall.time_since_epoch()).count());
  }
};

}  // namespace apimeter
