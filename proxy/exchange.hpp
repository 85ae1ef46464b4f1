// One exchange: a request and its response, from the first byte of the request head to the complete step.
// What it owns is protocol-independent — what an HTTP/1.1 connection holds per request today and an HTTP/2
// stream will hold per stream: the request record, the route, the user identity and extra label values,
// the walk over the upstream endpoints, and the facts its ending is decided from. The wire codec's own
// state (parser, body framing, buffers) stays with the connection. Reset as a whole when an exchange begins.
#pragma once

#include <array>
#include <cstddef>

#include "common/request_record.hpp"
#include "metrics/extra_labels.hpp"
#include "metrics/space_saving.hpp"

namespace apimeter {

struct Route;
struct UpstreamEndpoint;

struct Exchange {
  RequestRecord record;
  const Route* route = nullptr;  // the configured route it matched; null when none did

  // The upstream endpoint walk: round-robin start, endpoints tried, the one in use.
  std::size_t endpoint_base = 0;
  std::size_t endpoints_tried = 0;
  const UpstreamEndpoint* endpoint = nullptr;

  // Measurement inputs taken from the head; the user id is copied because it may point into scratch.
  metrics::ExtraLabelValues extra_labels{};
  metrics::UserToken user_token{};
  std::array<char, 128> user{};

  // What its ending is decided from (DownstreamConnection::end_exchange).
  bool keep_alive = true;          // the client may send another request on this connection
  bool upstream_reusable = false;  // the upstream connection ended in step and may go back to the pool
  bool response_started = false;   // bytes of a final response (or a local reply) went to the client
  bool response_done = false;      // the whole response was written to the client
};

}  // namespace apimeter
