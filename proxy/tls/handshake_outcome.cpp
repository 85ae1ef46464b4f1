// Maps OpenSSL's reason codes onto the few failure reasons an operator acts on differently: a client that
// speaks HTTP to the TLS port, one too old for tls.min_version, a certificate problem in mutual TLS.
#include "proxy/tls/handshake_outcome.hpp"

#include "proxy/transport/transport.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <boost/asio/ssl/error.hpp>

namespace apimeter {

metrics::TlsHandshakeFailure classify_handshake_failure(const ErrorCode& ec, long verify_result) noexcept {
  using F = metrics::TlsHandshakeFailure;
  if (is_peer_gone(ec)) return F::closed;
  if (ec.category() != asio::error::get_ssl_category()) return F::error;
  // Asio stores ERR_get_error()'s packed code as an int; the reason is its low bits.
  switch (ERR_GET_REASON(static_cast<unsigned long>(static_cast<unsigned int>(ec.value())))) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
      return F::http_request;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return F::unsupported_protocol;
    case SSL_R_NO_SHARED_CIPHER:
      return F::no_shared_cipher;
    case SSL_R_NO_APPLICATION_PROTOCOL:
      return F::no_application_protocol;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return F::certificate_required;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return verify_result == X509_V_ERR_CERT_HAS_EXPIRED || verify_result == X509_V_ERR_CERT_NOT_YET_VALID
                 ? F::certificate_expired
                 : F::bad_certificate;
    // The client's alert about the certificate we served: an expired or untrusted server certificate
    // shows here before any client reports it.
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
      return F::peer_rejected_certificate;
    default:
      return F::error;
  }
}

metrics::TlsVersionLabel tls_version_label(int ssl_version) noexcept {
  switch (ssl_version) {
    case TLS1_2_VERSION:
      return metrics::TlsVersionLabel::tls1_2;
    case TLS1_3_VERSION:
      return metrics::TlsVersionLabel::tls1_3;
    default:
      return metrics::TlsVersionLabel::other;
  }
}

}  // namespace apimeter
