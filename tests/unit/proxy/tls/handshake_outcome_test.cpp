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

TEST(HandshakeOutcome, UpstreamFailuresNameWhatToFix) {
  auto type = [](const ErrorCode& ec, long verify) {
    return classify_upstream_tls_failure(ec, verify).error_type;
  };
  const ErrorCode verify_failed = ssl_error(SSL_R_CERTIFICATE_VERIFY_FAILED);
  EXPECT_EQ(type(verify_failed, X509_V_ERR_CERT_HAS_EXPIRED), "tls_certificate_expired");
  EXPECT_EQ(type(verify_failed, X509_V_ERR_HOSTNAME_MISMATCH), "tls_certificate_name_mismatch");
  EXPECT_EQ(type(verify_failed, X509_V_ERR_IP_ADDRESS_MISMATCH), "tls_certificate_name_mismatch");
  EXPECT_EQ(type(verify_failed, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY), "tls_certificate_untrusted");
  EXPECT_EQ(type(verify_failed, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT), "tls_certificate_untrusted");
  EXPECT_TRUE(classify_upstream_tls_failure(verify_failed, X509_V_ERR_CERT_HAS_EXPIRED).certificate);
  EXPECT_EQ(type(ssl_error(SSL_R_TLSV1_ALERT_PROTOCOL_VERSION), X509_V_OK), "tls_protocol");
  EXPECT_EQ(type(ssl_error(SSL_R_WRONG_VERSION_NUMBER), X509_V_OK), "tls_protocol");
  EXPECT_EQ(type(ssl_error(SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL), X509_V_OK), "tls_protocol");
  EXPECT_EQ(type(ssl_error(SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED), X509_V_OK),
            "tls_client_certificate_rejected");
  EXPECT_EQ(type(ssl_error(SSL_R_TLSV1_ALERT_UNKNOWN_CA), X509_V_OK), "tls_client_certificate_rejected");
  EXPECT_FALSE(classify_upstream_tls_failure(ssl_error(SSL_R_TLSV1_ALERT_UNKNOWN_CA), X509_V_OK).certificate);
  EXPECT_EQ(type(ssl_error(SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE), X509_V_OK), "tls_peer_alert");
  EXPECT_EQ(type(asio::error::eof, X509_V_OK), "tls_closed");
  EXPECT_EQ(type(asio::error::connection_reset, X509_V_OK), "tls_closed");
  EXPECT_EQ(type(ssl_error(SSL_R_BAD_LENGTH), X509_V_OK), "tls_error");
  EXPECT_EQ(type(asio::error::no_memory, X509_V_OK), "tls_error");
}

}  // namespace
}  // namespace apimeter
