// Trust and peer-name checks for client-side TLS, with OpenSSL's own verifier (X509_check_host and
// X509_check_ip through the session's verify parameters), so a certificate is judged the same way on
// every connection we open.
#include "common/tls_client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>

namespace apimeter {

bool trust_certificates(boost::asio::ssl::context& context, const std::string& ca_file,
                        std::string_view setting, std::string& error) {
  boost::system::error_code ec;
  if (ca_file.empty()) {
    context.set_default_verify_paths(ec);
  } else {
    context.load_verify_file(ca_file, ec);
  }
  ERR_clear_error();
  if (ec) {
    error = ca_file.empty() ? "the system's CA store: " + ec.message()
                            : std::string(setting) + " " + ca_file + ": " + ec.message();
    return false;
  }
  context.set_verify_mode(boost::asio::ssl::verify_peer);
  return true;
}

bool expect_peer(void* session, const std::string& peer) noexcept {
  SSL* ssl = static_cast<SSL*>(session);
  boost::system::error_code not_an_address;
  boost::asio::ip::make_address(peer, not_an_address);
  if (!not_an_address) {
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), peer.c_str()) == 1;
  }
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set_tlsext_host_name(ssl, peer.c_str()) == 1 && SSL_set1_host(ssl, peer.c_str()) == 1;
}

}  // namespace apimeter
