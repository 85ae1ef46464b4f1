// What an upstream connection does between its TCP connect and its first request when the upstreams are
// reached over TLS, apart from the protocol that then runs on it: the TLS session with its peer name,
// session-cache slot and cached session, and the reading of how the handshake went. Worker thread only.
#pragma once

#include <string>

#include "common/asio_types.hpp"
#include "proxy/tls/handshake_outcome.hpp"
#include "proxy/upstream_pool.hpp"

namespace apimeter {

class Worker;
class TlsClientContext;

// Puts TLS on a connected upstream connection: SNI and the name its certificate must carry
// (`peer_name`), the slot the sessions the upstream issues go to, and the newest cached session to
// resume. False when OpenSSL could not make the session (out of memory).
bool prepare_upstream_tls(Worker& worker, TlsClientContext& tls, UpstreamConnection& upstream,
                          const std::string& peer_name) noexcept;

// The handshake ended with `ec`. Success: counted by version and resumption, true. Failure: the cached
// session of the endpoint is forgotten and `failure` says why, false.
bool finish_upstream_tls(Worker& worker, UpstreamConnection& upstream, const ErrorCode& ec,
                         UpstreamTlsFailure& failure) noexcept;

}  // namespace apimeter
