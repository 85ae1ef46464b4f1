// Maps OpenSSL's reason codes onto the few failure reasons an operator acts on differently: a client that
// speaks HTTP to the TLS port, one too old for tls.min_version, a certificate problem in mutual TLS.
#include "proxy/tls/handshake_outcome.hpp"

#include "proxy/transport/transport.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <boost/asio/ssl/error.hpp>

namespace apimeter {
namespace {

// What went wrong, whichever side we were: the one reading of OpenSSL's reasons both mappings below share.
enum class Cause : std::uint8_t {
  closed,        // the peer closed or reset mid-handshake
  http_request,  // cleartext HTTP where a ClientHello was expected
  protocol,      // no TLS version in common, or not TLS at all
  no_shared_cipher,
  no_application_protocol,
  certificate_required,       // we required the peer's certificate and it sent none
  certificate_expired,        // the peer's certificate is expired or not valid yet
  certificate_name_mismatch,  // the peer's certificate does not name the peer
  certificate_untrusted,      // the peer's certificate does not chain to a trusted CA
  peer_rejected_certificate,  // the peer's alert about our certificate (or its absence)
  peer_alert,                 // another fatal alert from the peer
  error,
};

Cause cause_of(const ErrorCode& ec, long verify_result) noexcept {
  if (is_peer_gone(ec)) return Cause::closed;
  if (ec.category() != asio::error::get_ssl_category()) return Cause::error;
  // Asio stores ERR_get_error()'s packed code as an int; the reason is its low bits.
  switch (ERR_GET_REASON(static_cast<unsigned long>(static_cast<unsigned int>(ec.value())))) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
      return Cause::http_request;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return Cause::protocol;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_CIPHERS_AVAILABLE:
      return Cause::no_shared_cipher;
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
      return Cause::no_application_protocol;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return Cause::certificate_required;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      switch (verify_result) {
        case X509_V_ERR_CERT_HAS_EXPIRED:
        case X509_V_ERR_CERT_NOT_YET_VALID:
          return Cause::certificate_expired;
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
          return Cause::certificate_name_mismatch;
        default:
          return Cause::certificate_untrusted;
      }
    // The peer's alert about the certificate we presented: an expired or untrusted server certificate
    // shows here before any client reports it, and a client certificate an upstream refuses or wants.
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return Cause::peer_rejected_certificate;
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV1_ALERT_INTERNAL_ERROR:
      return Cause::peer_alert;
    default:
      return Cause::error;
  }
}

}  // namespace

metrics::TlsHandshakeFailure classify_handshake_failure(const ErrorCode& ec, long verify_result) noexcept {
  using F = metrics::TlsHandshakeFailure;
  switch (cause_of(ec, verify_result)) {
    case Cause::closed:
      return F::closed;
    case Cause::http_request:
      return F::http_request;
    case Cause::protocol:
      return F::unsupported_protocol;
    case Cause::no_shared_cipher:
      return F::no_shared_cipher;
    case Cause::no_application_protocol:
      return F::no_application_protocol;
    case Cause::certificate_required:
      return F::certificate_required;
    case Cause::certificate_expired:
      return F::certificate_expired;
    case Cause::certificate_name_mismatch:
    case Cause::certificate_untrusted:
      return F::bad_certificate;
    case Cause::peer_rejected_certificate:
      return F::peer_rejected_certificate;
    case Cause::peer_alert:
    case Cause::error:
      return F::error;
  }
  return F::error;
}

UpstreamTlsFailure classify_upstream_tls_failure(const ErrorCode& ec, long verify_result) noexcept {
  switch (cause_of(ec, verify_result)) {
    case Cause::closed:
      return {"tls_closed", false};
    case Cause::http_request:
    case Cause::protocol:
    case Cause::no_shared_cipher:
    case Cause::no_application_protocol:
      return {"tls_protocol", false};
    case Cause::certificate_expired:
      return {"tls_certificate_expired", true};
    case Cause::certificate_name_mismatch:
      return {"tls_certificate_name_mismatch", true};
    case Cause::certificate_untrusted:
      return {"tls_certificate_untrusted", true};
    case Cause::peer_rejected_certificate:
      return {"tls_client_certificate_rejected", false};
    case Cause::peer_alert:
      return {"tls_peer_alert", false};
    case Cause::certificate_required:
    case Cause::error:
      return {"tls_error", false};
  }
  return {"tls_error", false};
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
