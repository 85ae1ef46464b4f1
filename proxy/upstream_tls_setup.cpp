// TLS on an upstream connection: session setup before the handshake, its outcome after.
#include "proxy/upstream_tls_setup.hpp"

#include "common/tls_client.hpp"
#include "proxy/tls/tls_client_context.hpp"
#include "proxy/worker.hpp"

namespace apimeter {

bool prepare_upstream_tls(Worker& worker, TlsClientContext& tls, UpstreamConnection& upstream,
                          const std::string& peer_name) noexcept {
  try {
    upstream.transport.start_tls(tls.context);
  } catch (...) {  // OpenSSL could not make a session (out of memory)
    ERR_clear_error();
    return false;
  }
  SSL* session = upstream.transport.tls_session();
  upstream.session_slot = {&worker.upstream_tls_sessions(), upstream.endpoint, tls.id};
  attach_session_slot(session, &upstream.session_slot);
  if (!expect_peer(session, peer_name)) {
    ERR_clear_error();
    return false;
  }
  // A copy: OpenSSL marks the session a connection holds not resumable when that connection ends without
  // a close_notify, and the cached one must survive this connection.
  if (SSL_SESSION* cached = worker.upstream_tls_sessions().find(upstream.endpoint, tls.id)) {
    if (SSL_SESSION* copy = SSL_SESSION_dup(cached)) {
      SSL_set_session(session, copy);
      SSL_SESSION_free(copy);  // the SSL holds its own reference
    }
    ERR_clear_error();
  }
  return true;
}

bool finish_upstream_tls(Worker& worker, UpstreamConnection& upstream, const ErrorCode& ec,
                         UpstreamTlsFailure& failure) noexcept {
  SSL* session = upstream.transport.tls_session();
  if (ec) {
    failure =
        classify_upstream_tls_failure(ec, session != nullptr ? SSL_get_verify_result(session) : X509_V_OK);
    worker.upstream_tls_sessions().forget(upstream.endpoint);
    return false;
  }
  if (worker.metrics_enabled())
    worker.metrics().upstream_tls_handshake(tls_version_label(SSL_version(session)),
                                            SSL_session_reused(session) == 1);
  return true;
}

}  // namespace apimeter
