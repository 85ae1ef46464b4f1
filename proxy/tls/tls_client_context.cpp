// Compiles upstream_tls.* into an OpenSSL client context. Verification is OpenSSL's: the chain against
// upstream_tls.ca_file (or the system's store) and the name per connection (common/tls_client.hpp).
#include "proxy/tls/tls_client_context.hpp"

#include <atomic>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/tls_client.hpp"
#include "proxy/tls/certificate_files.hpp"

namespace apimeter {
namespace {

namespace ssl = boost::asio::ssl;

int session_slot_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// OpenSSL's new-session callback: a session the upstream issued (TLS 1.2 at the handshake, TLS 1.3 with
// each ticket after it). The cache gets a copy: the session given here stays the connection's own, and
// OpenSSL marks that one not resumable when the connection ends without a close_notify (as pooled
// connections do), which would spoil the cached one too. Returning 0: OpenSSL keeps its reference.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<TlsSessionSlot*>(SSL_get_ex_data(ssl, session_slot_index()));
  if (slot == nullptr || slot->cache == nullptr) return 0;
  SSL_SESSION* copy = SSL_SESSION_dup(session);
  if (copy != nullptr && !slot->cache->remember(slot->endpoint, slot->context, copy)) SSL_SESSION_free(copy);
  // This runs inside SSL_read: an error left queued here would fail that healthy read.
  if (copy == nullptr) ERR_clear_error();
  return 0;
}

std::atomic<std::uint64_t> next_context_id{1};

}  // namespace

std::shared_ptr<TlsClientContext> build_tls_client_context(const UpstreamTlsConfig& tls,
                                                           std::vector<Diagnostic>& problems) {
  const std::size_t problems_before = problems.size();
  auto problem = [&](std::string message) {
    problems.push_back(Diagnostic{SourceLocation{}, std::move(message)});
  };
  auto result = std::make_shared<TlsClientContext>(ssl::context(ssl::context::tls_client));
  result->id = next_context_id.fetch_add(1, std::memory_order_relaxed);
  SSL_CTX* ctx = result->context.native_handle();
  ERR_clear_error();

  SSL_CTX_set_min_proto_version(ctx, tls.min_version == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // The forward-secret AEAD list the listener offers by default (tls.ciphers' default).
  const std::string ciphers(defaults::kTlsCiphers);
  SSL_CTX_set_cipher_list(ctx, ciphers.c_str());

  if (tls.verify) {
    std::string error;
    if (!trust_certificates(result->context, tls.ca_file, "upstream_tls.ca_file", error)) problem(error);
  } else {
    result->context.set_verify_mode(ssl::verify_none);
  }
  if (!tls.cert_file.empty())
    load_certificate_and_key(result->context, tls.cert_file, tls.key_file, "upstream_tls.cert_file",
                             "upstream_tls.key_file", problem);

  // HTTP/1.1 is what we speak upstream; an upstream that picks by ALPN must not choose h2.
  static constexpr unsigned char kOffered[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx, kOffered, sizeof kOffered);

  // Client-side resumption: OpenSSL hands each new session to on_new_session; the workers keep them
  // (no internal store, which would be shared and locked across workers).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, &on_new_session);
  session_slot_index();  // allocated here, on the control thread, before any worker asks for it

  if (problems.size() != problems_before) return nullptr;
  return result;
}

void attach_session_slot(SSL* session, TlsSessionSlot* slot) noexcept {
  SSL_set_ex_data(session, session_slot_index(), slot);
}

}  // namespace apimeter
