// TestPki: X.509 certificates through OpenSSL's API (no openssl CLI config files, and the expired
// certificate a CLI of OpenSSL 3.0 cannot back-date).
#include "tests/support/test_pki.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <stdexcept>

namespace apimeter::test {
namespace {

EVP_PKEY* new_key() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) throw std::runtime_error("EVP_EC_gen failed");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) throw std::runtime_error("bad X.509 extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// Subject CN=<cn>,O=Acme; issued by `issuer` (itself when null) and signed with `signer`.
X509* make_cert(EVP_PKEY* subject_key, const std::string& cn, X509* issuer, EVP_PKEY* signer, long serial,
                long not_before_seconds, long not_after_seconds) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), not_before_seconds);
  X509_gmtime_adj(X509_getm_notAfter(cert), not_after_seconds);
  X509_set_pubkey(cert, subject_key);
  X509_NAME* name = X509_get_subject_name(cert);
  // Most significant first, as CAs write them; RFC 2253 prints the reverse: "CN=<cn>,O=Acme".
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Acme"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
  return cert;
}

void write_pem(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  const int ok =
      cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  if (ok != 1) throw std::runtime_error("cannot write PEM to " + path);
}

}  // namespace

TestPki::TestPki(const std::filesystem::path& dir, const std::string& stem, const std::string& ca_name)
    : dir_(dir) {
  std::filesystem::create_directories(dir_);
  EVP_PKEY* key = new_key();
  X509* cert = make_cert(key, ca_name, nullptr, key, serial_++, -3600, 365L * 86400);
  add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(cert, cert, NID_subject_key_identifier, "hash");
  X509_sign(cert, key, EVP_sha256());
  ca_ = {(dir_ / (stem + ".pem")).string(), (dir_ / (stem + ".key")).string()};
  write_pem(ca_.cert, cert, nullptr);
  write_pem(ca_.key, nullptr, key);
  ca_key_ = key;
  ca_cert_ = cert;
}

TestPki::~TestPki() {
  X509_free(static_cast<X509*>(ca_cert_));
  EVP_PKEY_free(static_cast<EVP_PKEY*>(ca_key_));
}

CertFiles TestPki::issue(const std::string& file_stem, const std::string& common_name, bool server,
                         long valid_days) {
  X509* ca = static_cast<X509*>(ca_cert_);
  EVP_PKEY* key = new_key();
  const long not_after = valid_days * 86400L;
  // An expired certificate was valid for a day once; a valid one from an hour ago.
  const long not_before = valid_days < 0 ? not_after - 86400L : -3600;
  X509* cert =
      make_cert(key, common_name, ca, static_cast<EVP_PKEY*>(ca_key_), serial_++, not_before, not_after);
  add_extension(cert, ca, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert, ca, NID_authority_key_identifier, "keyid");
  add_extension(cert, ca, NID_ext_key_usage, server ? "serverAuth" : "clientAuth");
  if (server) add_extension(cert, ca, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  X509_sign(cert, static_cast<EVP_PKEY*>(ca_key_), EVP_sha256());
  CertFiles files{(dir_ / (file_stem + ".pem")).string(), (dir_ / (file_stem + ".key")).string()};
  write_pem(files.cert, cert, nullptr);
  write_pem(files.key, nullptr, key);
  X509_free(cert);
  EVP_PKEY_free(key);
  return files;
}

}  // namespace apimeter::test
