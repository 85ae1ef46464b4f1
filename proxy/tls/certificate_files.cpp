// PEM files into a context. The file is read here and handed to OpenSSL from memory, so a file that
// cannot be read is told apart from one that is not PEM, without reading it twice.
#include "proxy/tls/certificate_files.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "control/value_syntax.hpp"

namespace apimeter {

std::optional<std::string> read_whole_file(const std::string& file, std::string& why) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (f == nullptr) {
    why = std::strerror(errno);
    return std::nullopt;
  }
  std::string text;
  char chunk[4096];
  for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;) text.append(chunk, n);
  std::fclose(f);
  return text;
}

std::string openssl_reason(const boost::system::error_code& ec) {
  std::string reason;
  if (const unsigned long e = ERR_peek_last_error(); e != 0) {
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    reason = ERR_reason_error_string(e) ? ERR_reason_error_string(e) : text;
  } else {
    reason = ec.message();
  }
  ERR_clear_error();
  return reason;
}

bool load_certificate_and_key(boost::asio::ssl::context& context, const std::string& cert_file,
                              const std::string& key_file, std::string_view cert_setting,
                              std::string_view key_setting, const std::function<void(std::string)>& problem) {
  const std::string cert_name = std::string(cert_setting) + " " + quote(cert_file);
  const std::string key_name = std::string(key_setting) + " " + quote(key_file);
  bool ok = true;
  boost::system::error_code ec;
  std::string why;
  ERR_clear_error();
  if (std::optional<std::string> pem = read_whole_file(cert_file, why); !pem) {
    problem(cert_name + ": cannot read it: " + why);
    ok = false;
  } else if (context.use_certificate_chain(boost::asio::buffer(*pem), ec); ec) {
    problem(cert_name + ": not a PEM certificate chain: " + openssl_reason(ec));
    ok = false;
  }
  const std::string mismatch = key_name + " is not the key of the certificate in " + cert_name;
  if (std::optional<std::string> pem = read_whole_file(key_file, why); !pem) {
    problem(key_name + ": cannot read it: " + why);
    return false;
  } else if (context.use_private_key(boost::asio::buffer(*pem), boost::asio::ssl::context::pem, ec); ec) {
    // OpenSSL checks the key against the certificate as it loads it (Asio took the error off the queue).
    if (ec.category() == boost::asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(static_cast<unsigned int>(ec.value()))) ==
            X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      problem(mismatch);
    } else {
      problem(key_name + ": not a PEM private key (or it is encrypted): " + openssl_reason(ec));
    }
    return false;
  }
  if (ok && SSL_CTX_check_private_key(context.native_handle()) != 1) {
    ERR_clear_error();
    problem(mismatch);
    return false;
  }
  return ok;
}

}  // namespace apimeter
