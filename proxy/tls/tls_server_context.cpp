// Compiles tls.* into an OpenSSL server context. Every check that needs the files happens here, at load
// or reload, so a worker never meets a context that cannot serve.
#include "proxy/tls/tls_server_context.hpp"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <ctime>
#include <optional>

#include <openssl/evp.h>

#include "control/value_syntax.hpp"
#include "proxy/tls/certificate_files.hpp"

namespace apimeter {
namespace {

namespace ssl = boost::asio::ssl;

// ALPN: apimeter serves h2 and HTTP/1.1 here, h2 first when the client offers both. A client that offers
// only protocols it does not serve gets the no_application_protocol alert RFC 7301 asks for; a client
// that offers none gets HTTP/1.1.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* offered,
                unsigned int offered_length, void*) {
  static constexpr unsigned char kServed[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  unsigned char selected_length = 0;
  if (SSL_select_next_proto(&selected, &selected_length, kServed, sizeof kServed, offered, offered_length) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = selected;
  *out_length = selected_length;
  return SSL_TLSEXT_ERR_OK;
}

// The session id context: a session resumes only under the client-certificate policy it was made under.
// OpenSSL does not ask for a client certificate again on resumption, so a reload that requires one, or
// changes the client CAs, must turn earlier tickets into full handshakes.
std::array<unsigned char, 32> session_context(const TlsConfig& tls, const std::string& client_ca_pem) {
  std::string policy = "apimeter/1 ";
  policy += tls.client_ca_file.empty()                                  ? 'n'
            : tls.client_certificate == ClientCertificateMode::required ? 'r'
                                                                        : 'o';
  policy += client_ca_pem;
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  EVP_Digest(policy.data(), policy.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return digest;
}

double not_after_of(X509* certificate) {
  std::tm tm{};
  if (certificate == nullptr || ASN1_TIME_to_tm(X509_get0_notAfter(certificate), &tm) != 1) return 0;
  return static_cast<double>(timegm(&tm));
}

}  // namespace

std::shared_ptr<const TlsTicketKeys> TlsTicketKeys::generate() {
  auto keys = std::make_shared<TlsTicketKeys>();
  if (RAND_bytes(keys->bytes.data(), static_cast<int>(keys->bytes.size())) != 1) return nullptr;
  return keys;
}

std::size_t certificate_subject(const void* certificate, char* out, std::size_t capacity) noexcept {
  if (certificate == nullptr || capacity == 0) return 0;
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return 0;
  std::size_t n = 0;
  if (X509_NAME_print_ex(bio, X509_get_subject_name(static_cast<const X509*>(certificate)), 0,
                         XN_FLAG_RFC2253) >= 0) {  // non-ASCII escaped: a cut never splits a character
    const int read = BIO_read(bio, out, static_cast<int>(capacity));
    n = read > 0 ? static_cast<std::size_t>(read) : 0;
  }
  BIO_free(bio);
  return n;
}

std::shared_ptr<TlsServerContext> build_tls_server_context(const TlsConfig& tls, const TlsTicketKeys& keys,
                                                           std::vector<Diagnostic>& problems) {
  const std::size_t problems_before = problems.size();
  auto problem = [&](std::string message) {
    problems.push_back(Diagnostic{SourceLocation{}, std::move(message)});
  };
  auto result = std::make_shared<TlsServerContext>(ssl::context(ssl::context::tls_server));
  SSL_CTX* ctx = result->context.native_handle();
  ERR_clear_error();

  SSL_CTX_set_min_proto_version(ctx, tls.min_version == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  // Renegotiation is a client-driven CPU sink and HTTP/1.1 over TLS never needs it; compression is CRIME.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An idle connection gives its read and write buffers back to OpenSSL's allocator.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(ctx, tls.ciphers.c_str()) != 1) {
    problem("tls.ciphers " + quote(tls.ciphers) + ": selects no cipher this OpenSSL knows");
    ERR_clear_error();
  }

  load_certificate_and_key(result->context, tls.cert_file, tls.key_file, "tls.cert_file", "tls.key_file",
                           problem);

  boost::system::error_code ec;
  std::string why;
  std::string client_ca_pem;
  if (!tls.client_ca_file.empty()) {
    std::optional<std::string> pem = read_whole_file(tls.client_ca_file, why);
    if (!pem) {
      problem("tls.client_ca_file " + quote(tls.client_ca_file) + ": cannot read it: " + why);
    } else if (result->context.load_verify_file(tls.client_ca_file, ec); ec) {
      problem("tls.client_ca_file " + quote(tls.client_ca_file) +
              ": no PEM certificate in it: " + openssl_reason(ec));
    } else {
      client_ca_pem = std::move(*pem);
      // The CA names go into the CertificateRequest, so a client with several certificates picks the right
      // one.
      SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(tls.client_ca_file.c_str()));
      const int mode = tls.client_certificate == ClientCertificateMode::required
                           ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                           : SSL_VERIFY_PEER;
      SSL_CTX_set_verify(ctx, mode, nullptr);
    }
  }

  // Resumption by stateless tickets only, with the process's keys: any worker, and the context of a later
  // reload, can resume a session another one started; no server-side cache to lock or bound.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  const std::array<unsigned char, 32> context_id = session_context(tls, client_ca_pem);
  SSL_CTX_set_session_id_context(ctx, context_id.data(), static_cast<unsigned int>(context_id.size()));
  if (SSL_CTX_set_tlsext_ticket_keys(ctx, const_cast<unsigned char*>(keys.bytes.data()),
                                     static_cast<long>(keys.bytes.size())) != 1) {
    problem("tls: OpenSSL refused the session ticket keys");
    ERR_clear_error();
  }
  SSL_CTX_set_alpn_select_cb(ctx, &select_alpn, nullptr);

  if (problems.size() != problems_before) return nullptr;
  X509* served = SSL_CTX_get0_certificate(ctx);
  result->certificate_not_after = not_after_of(served);
  char subject[256];
  result->certificate_subject.assign(subject, certificate_subject(served, subject, sizeof subject));
  return result;
}

}  // namespace apimeter
