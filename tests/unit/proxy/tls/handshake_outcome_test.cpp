// Handshake failures as an operator reads them: each OpenSSL reason (packed as Asio stores it) and each
// socket ending maps to its error_type; the protocol version to its label.
#include "proxy/tls/handshake_outcome.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/ssl/error.hpp>

namespace apimeter {
namespace {

using F = metrics::TlsHandshakeFailure;

ErrorCode ssl_error(int reason) {
  return ErrorCode(static_cast<int>(ERR_PACK(ERR_LIB_SSL, 0, reason)), asio::error::get_ssl_category());
}

TEST(HandshakeOutcome, OpenSslReasonsMapToTheirFailure) {
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_HTTP_REQUEST), X509_V_OK), F::http_request);
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_WRONG_VERSION_NUMBER), X509_V_OK),
            F::unsupported_protocol);
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_UNSUPPORTED_PROTOCOL), X509_V_OK),
            F::unsupported_protocol);
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_NO_SHARED_CIPHER), X509_V_OK), F::no_shared_cipher);
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_NO_APPLICATION_PROTOCOL), X509_V_OK),
            F::no_application_protocol);
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE), X509_V_OK),
            F::certificate_required);
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_TLSV1_ALERT_UNKNOWN_CA), X509_V_OK),
            F::peer_rejected_certificate);
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED), X509_V_OK),
            F::peer_rejected_certificate);
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_BAD_LENGTH), X509_V_OK), F::error);
}

TEST(HandshakeOutcome, VerifyResultTellsExpiredFromUntrusted) {
  const ErrorCode verify_failed = ssl_error(SSL_R_CERTIFICATE_VERIFY_FAILED);
  EXPECT_EQ(classify_handshake_failure(verify_failed, X509_V_ERR_CERT_HAS_EXPIRED), F::certificate_expired);
  EXPECT_EQ(classify_handshake_failure(verify_failed, X509_V_ERR_CERT_NOT_YET_VALID), F::certificate_expired);
  EXPECT_EQ(classify_handshake_failure(verify_failed, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
            F::bad_certificate);
}

TEST(HandshakeOutcome, ThePeerGoingAwayIsClosedAndOtherSocketErrorsAreErrors) {
  EXPECT_EQ(classify_handshake_failure(asio::error::eof, X509_V_OK), F::closed);
  EXPECT_EQ(classify_handshake_failure(asio::error::connection_reset, X509_V_OK), F::closed);
  EXPECT_EQ(classify_handshake_failure(asio::ssl::error::stream_truncated, X509_V_OK), F::closed);
  EXPECT_EQ(classify_handshake_failure(asio::error::no_buffer_space, X509_V_OK), F::error);
}

TEST(HandshakeOutcome, VersionLabels) {
  EXPECT_EQ(tls_version_label(TLS1_3_VERSION), metrics::TlsVersionLabel::tls1_3);
  EXPECT_EQ(tls_version_label(TLS1_2_VERSION), metrics::TlsVersionLabel::tls1_2);
  EXPECT_EQ(tls_version_label(TLS1_1_VERSION), metrics::TlsVersionLabel::other);
}

}  // namespace
}  // namespace apimeter
