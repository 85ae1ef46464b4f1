// A scriptable OTLP/HTTP collector for the tracing tests: listens on 127.0.0.1 port 0, serves each
// connection on its own thread, records every request (target, headers, body gunzipped when it says gzip)
// and answers from a script of replies, then from a default (200 with an empty ExportTraceServiceResponse).
// Spans are decoded by the OpenTelemetry project's decoder (otlp_decode.hpp), never by apimeter's code.
// Every wait is bounded; the destructor closes the connections and joins its threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/otlp_decode.hpp"
#include "tests/support/raw_client.hpp"

namespace apimeter::test {

// How the collector answers one request.
struct CollectorReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields, e.g. {"Retry-After", "1"}
  std::string body;                                          // empty: an empty ExportTraceServiceResponse
  bool hang = false;  // read the request, never answer; the connection is closed when the collector stops
};

struct CollectorRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string wire_body;  // as received
  std::string body;       // gunzipped when Content-Encoding says gzip, else the wire body
  std::string error;      // framing or gzip problem; empty when the request was well formed
  int answered = 0;       // the status sent back; 0 while hung or not answered
  std::chrono::steady_clock::time_point received;

  // First value of `name` (case-insensitive).
  std::optional<std::string> header(std::string_view name) const;
};

class TestCollector {
 public:
  TestCollector();
  ~TestCollector();
  TestCollector(const TestCollector&) = delete;
  TestCollector& operator=(const TestCollector&) = delete;

  std::uint16_t port() const { return listener_.port(); }
  // "http://127.0.0.1:<port><path>", the value for --tracing-endpoint.
  std::string endpoint(std::string_view path = "/v1/traces") const;

  // Appends a reply for the next request that finds the script empty of earlier ones.
  void script(CollectorReply reply);
  // The reply once the script is used up.
  void set_default_reply(CollectorReply reply);

  std::vector<CollectorRequest> requests() const;
  std::size_t request_count() const;
  // Waits until at least `n` requests arrived (answered or not); whether they did within `timeout`.
  bool wait_for_requests(std::size_t n, Millis timeout) const;

  // The spans of every request answered 2xx, decoded once each; decode_errors() says what did not decode.
  std::vector<ExportedSpan> accepted_spans();
  std::string decode_errors();
  // Polls accepted_spans() until `n` spans for which `filter` holds (all spans without one) arrived or
  // `timeout` passed; the matching spans at that moment.
  std::vector<ExportedSpan> wait_for_spans(std::size_t n, Millis timeout,
                                           const std::function<bool(const ExportedSpan&)>& filter = {});

 private:
  void accept_loop();
  void serve(RawConnection connection);
  CollectorReply next_reply();

  RawListener listener_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;  // everything below
  std::deque<CollectorReply> script_;
  CollectorReply default_reply_;
  std::vector<CollectorRequest> requests_;
  std::vector<std::thread> connections_;
  std::thread acceptor_;

  std::mutex decode_mutex_;  // decoded_, decode_errors_: the test thread's cache
  std::vector<std::optional<DecodedExport>> decoded_;
  std::string decode_errors_;
};

// Inflates a gzip stream; nullopt when it is not one or is cut short.
std::optional<std::string> gunzip(std::string_view compressed);

}  // namespace apimeter::test
