// Certificates for the TLS tests, made with OpenSSL's API in the test's own directory: a CA, a server
// certificate for 127.0.0.1/localhost, and client certificates (valid, expired, or from another CA).
// ECDSA P-256 keys, so generating them takes milliseconds.
#pragma once

#include <filesystem>
#include <string>

namespace apimeter::test {

struct CertFiles {
  std::string cert;  // PEM certificate
  std::string key;   // PEM private key
};

class TestPki {
 public:
  // Creates a CA named `ca_name` (<stem>.pem, <stem>.key) under `dir`.
  explicit TestPki(const std::filesystem::path& dir, const std::string& stem = "ca",
                   const std::string& ca_name = "apimeter test CA");
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::string& ca_file() const { return ca_.cert; }
  // A certificate signed by this CA, subject "CN=<common_name>,O=Acme", valid from now-1h for `valid_days`
  // (negative: it expired that many days ago). Server certificates name 127.0.0.1 and localhost.
  CertFiles issue(const std::string& file_stem, const std::string& common_name, bool server,
                  long valid_days = 30);

 private:
  std::filesystem::path dir_;
  CertFiles ca_;
  void* ca_key_ = nullptr;   // EVP_PKEY*
  void* ca_cert_ = nullptr;  // X509*
  long serial_ = 1;
};

}  // namespace apimeter::test
