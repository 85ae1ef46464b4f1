// The steps every exchange takes whatever its client speaks (an HTTP/1.1 connection's request, an HTTP/2
// stream): record the request head, route it, take the user identity and extra label values, begin the
// trace, compose the upstream HTTP/1.1 head that continues it, and the complete step. Written once so the
// two codecs cannot measure, route or trace a request differently. Worker thread only; no allocation.
#pragma once

#include <string_view>

#include "proxy/exchange.hpp"
#include "proxy/http1/header_rewriter.hpp"
#include "proxy/http1/http_head_parser.hpp"

namespace apimeter {

class Worker;
struct Snapshot;

// Where the request came from: the client's address (X-Forwarded-For, the `client_ip` identity source)
// and its certificate's subject (the `client_certificate` identity source; empty without one).
struct ClientPeer {
  std::string_view address;
  std::string_view certificate_subject;
};

// The head was read: its facts into the record, its route, its user and extra labels, its trace.
void begin_exchange(Worker& worker, const Snapshot& snapshot, const MessageHead& request,
                    const ClientPeer& peer, Exchange& exchange) noexcept;
// The HTTP/1.1 head for the upstream: the client's fields rewritten (header_rewriter.hpp), the trace
// continued under the CLIENT span. `upgrade`: the client asked for one the upstream may grant.
void write_exchange_request_head(const Snapshot& snapshot, const MessageHead& request,
                                 const Exchange& exchange, const ClientPeer& peer, bool upgrade,
                                 HeadWriter& writer) noexcept;
// The complete step: the exchange is accounted for once (metrics, span, log) from its finished record.
void complete_exchange(Worker& worker, Exchange& exchange) noexcept;

}  // namespace apimeter
