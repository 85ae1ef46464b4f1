// Where and how the exporter thread sends spans: the OTLP/HTTP endpoint, headers, compression, batching,
// queue bound and retry schedule, and the resource that describes this process. Plain data, resolved
// from the config (and OTEL_* variables) by proxy/.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace apimeter::tracing {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

struct ExporterSettings {
  std::string url = "http://127.0.0.1:4318/v1/traces";  // for messages
  std::string host = "127.0.0.1";
  std::uint16_t port = 4318;
  std::string path = "/v1/traces";
  bool tls = false;     // https: the collector's certificate is verified (chain and host name)
  std::string ca_file;  // PEM CAs for that; empty = the system's default store
  KeyValues headers;  // sent with every export request
  bool gzip = false;
  std::chrono::milliseconds timeout{10000};  // one export request, connect included
  std::size_t max_batch_spans = 512;
  std::size_t max_queue_spans = 2048;        // over all workers, plus one batch being sent
  std::chrono::milliseconds batch_delay{1000};
  std::chrono::milliseconds retry_initial_backoff{1000};
  std::chrono::milliseconds retry_max_backoff{30000};
  std::chrono::milliseconds retry_max_elapsed{60000};  // then the batch is dropped
  KeyValues resource;  // service.name, service.instance.id, telemetry.sdk.*, OTEL_RESOURCE_ATTRIBUTES ...
};

}  // namespace apimeter::tracing
