// TLS on the listener with real clients: curl, openssl s_client and wrk against apimeter serving
// certificates made for each test. Versions, ALPN, resumption from tickets (also across a reload), mutual
// TLS with the certificate subject as the user, each handshake failure reason, and a certificate reload
// under load with no failed request.
#include <signal.h>

#include "tests/integration/harness.hpp"
#include "tests/support/test_pki.hpp"

namespace apimeter::test {
namespace {

constexpr std::string_view kHandshakes = "apimeter_tls_handshakes_total";

struct TlsStack {
  std::unique_ptr<TestPki> pki;
  CertFiles server;
  DemoUpstream upstream;
  Apimeter proxy;
  std::string url(std::string_view path) const {
    return "https://127.0.0.1:" + std::to_string(proxy.port) + std::string(path);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(proxy.port); }
};

// apimeter serving HTTPS with a fresh CA's server certificate, from a config file (so SIGHUP reloads it);
// `args` come last.
TlsStack start_tls_stack(std::vector<std::string> args = {}) {
  TlsStack stack;
  stack.pki = std::make_unique<TestPki>(test_temp_dir());
  stack.server = stack.pki->issue("server", "apimeter.test", /*server=*/true);
  stack.upstream = start_demo_upstream();
  const std::string config = write_temp_file("apimeter.yaml", "tls:\n  cert_file: " + stack.server.cert +
                                                                  "\n  key_file: " + stack.server.key + "\n");
  std::vector<std::string> all{"--config",     config, "--upstream", stack.upstream.address(),
                               "--access-log", "off"};
  all.insert(all.end(), args.begin(), args.end());
  stack.proxy = start_apimeter(std::move(all));
  return stack;
}

RunResult curl(const TlsStack& stack, std::vector<std::string> args, std::string_view path = "/headers") {
  std::vector<std::string> all{"-sS", "--max-time", "5", "--cacert", stack.pki->ca_file()};
  all.insert(all.end(), args.begin(), args.end());
  all.push_back(stack.url(path));
  return run_to_completion("curl", std::move(all), 10s);
}

// openssl s_client connecting and closing at once (stdin is /dev/null); its whole output.
RunResult s_client(const TlsStack& stack, std::vector<std::string> args) {
  std::vector<std::string> all{"s_client",           "-connect",    stack.address(), "-CAfile",
                               stack.pki->ca_file(), "-servername", "localhost"};
  all.insert(all.end(), args.begin(), args.end());
  return run_to_completion("openssl", std::move(all), 10s);
}

double failures(const MetricsText& metrics, std::string_view reason) {
  return metrics.sum(kHandshakes, {{"result", "failure"}, {"error_type", std::string(reason)}});
}

// Scrapes until the failure reason has been counted `n` times (the count lands as the connection closes).
MetricsText scrape_failures(const TlsStack& stack, std::string_view reason, double n) {
  return scrape_until(stack.proxy.admin_port, [&](const MetricsText& m) { return failures(m, reason) >= n; });
}

TEST(TlsTest, ServesHttpsOverTls13And12AndCountsEachVersion) {
  TlsStack stack = start_tls_stack();
  RunResult tls13 = curl(stack, {"--http1.1", "-D", "-"});
  ASSERT_EQ(tls13.exit_code, 0) << tls13.err_text() << stack.proxy.proc().describe();
  EXPECT_NE(tls13.out_text().find("HTTP/1.1 200"), std::string::npos) << tls13.out_text();
  // The upstream learns the request came over HTTPS.
  EXPECT_EQ(echoed_header(tls13.out_text(), "X-Forwarded-Proto"), "https") << tls13.out_text();
  RunResult tls12 = curl(stack, {"--tls-max", "1.2"});
  ASSERT_EQ(tls12.exit_code, 0) << tls12.err_text();

  MetricsText m = scrape_after_requests(stack.proxy.admin_port, 2);
  EXPECT_EQ(m.sum(kHandshakes, {{"result", "success"}, {"tls_protocol_version", "1.3"}}), 1);
  EXPECT_EQ(m.sum(kHandshakes, {{"result", "success"}, {"tls_protocol_version", "1.2"}}), 1);
  EXPECT_EQ(m.sum("apimeter_tls_handshake_duration_seconds_count"), 2);
  // The served certificate is valid for 30 days from now.
  const double expiry = m.value("apimeter_tls_certificate_expiry_seconds").value_or(-1);
  EXPECT_GT(expiry, 29 * 86400.0);
  EXPECT_LT(expiry, 30 * 86400.0 + 60);
}

TEST(TlsTest, SmallAndLargeBodiesArriveIntactOverKeepAlive) {
  TlsStack stack = start_tls_stack();
  // One curl, three requests on one connection: a body that fits behind the head (one record), one
  // that does not, and a small one again.
  const std::string dir = test_temp_dir().string();
  RunResult run = curl(stack,
                       {"-o", dir + "/small", stack.url("/bytes/100"), "-o", dir + "/large",
                        stack.url("/bytes/1000000"), "-o", dir + "/again", "-w", "%{num_connects} "},
                       "/bytes/7");
  ASSERT_EQ(run.exit_code, 0) << run.err_text();
  auto slurp = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(slurp(dir + "/small"), demo_pattern(100));
  EXPECT_EQ(slurp(dir + "/large"), demo_pattern(1000000));
  EXPECT_EQ(slurp(dir + "/again"), demo_pattern(7));
  EXPECT_EQ(run.out_text(), "1 0 0 \n") << "the three requests share one TLS connection";
}

TEST(TlsTest, AlpnPrefersH2ThenHttp11AndRefusesOtherProtocols) {
  TlsStack stack = start_tls_stack();
  RunResult both = s_client(stack, {"-alpn", "h2,http/1.1"});
  EXPECT_NE(both.out_text().find("ALPN protocol: h2"), std::string::npos) << both.out_text();
  RunResult http11 = s_client(stack, {"-alpn", "http/1.1"});
  EXPECT_NE(http11.out_text().find("ALPN protocol: http/1.1"), std::string::npos) << http11.out_text();
  // No protocol in common: RFC 7301's no_application_protocol alert rather than a silent downgrade.
  RunResult other = s_client(stack, {"-alpn", "spdy/3"});
  EXPECT_NE(other.exit_code, 0) << other.out_text();
  EXPECT_NE(other.err_text().find("no application protocol"), std::string::npos) << other.err_text();
  EXPECT_EQ(failures(scrape_failures(stack, "no_application_protocol", 1), "no_application_protocol"), 1);
  // A client that offers no ALPN at all is served HTTP/1.1 (curl --no-alpn).
  RunResult none = curl(stack, {"--no-alpn"});
  EXPECT_EQ(none.exit_code, 0) << none.err_text();
}

// TLS 1.2 sessions: s_client reads stdin (/dev/null here) right after the handshake, before a TLS 1.3
// ticket would arrive, so TLS 1.3 resumption is not covered by this client.
TEST(TlsTest, SessionTicketsResumeOnEveryWorkerAndAfterAReload) {
  TlsStack stack = start_tls_stack({"--workers", "2"});
  const std::string session = (test_temp_dir() / "session.pem").string();
  RunResult first = s_client(stack, {"-tls1_2", "-sess_out", session});
  ASSERT_NE(first.out_text().find("New,"), std::string::npos) << first.out_text();
  // Several resumptions: SO_REUSEPORT spreads them over both workers, which share the context and its keys.
  for (int i = 0; i < 4; ++i) {
    RunResult again = s_client(stack, {"-tls1_2", "-sess_in", session});
    EXPECT_NE(again.out_text().find("Reused,"), std::string::npos) << again.out_text();
  }
  // A reload builds a new context from the files; the ticket keys stay, so the session still resumes.
  ASSERT_EQ(reload_apimeter(stack.proxy), "configuration reloaded") << stack.proxy.proc().describe();
  RunResult after = s_client(stack, {"-tls1_2", "-sess_in", session});
  EXPECT_NE(after.out_text().find("Reused,"), std::string::npos) << after.out_text();
  MetricsText m = scrape_until(stack.proxy.admin_port, [](const MetricsText& m) {
    return m.sum("apimeter_tls_sessions_resumed_total") >= 5;
  });
  EXPECT_EQ(m.sum("apimeter_tls_sessions_resumed_total"), 5);
}

TEST(TlsTest, MutualTlsUsesTheCertificateSubjectAndRefusesBadCertificates) {
  const std::filesystem::path dir = test_temp_dir();
  TlsStack stack;
  stack.pki = std::make_unique<TestPki>(dir);
  stack.server = stack.pki->issue("server", "apimeter.test", true);
  const CertFiles crm = stack.pki->issue("crm", "crm", false);
  const CertFiles expired = stack.pki->issue("expired", "old", false, -2);
  TestPki other(dir, "other-ca", "someone else's CA");
  const CertFiles stranger = other.issue("stranger", "stranger", false);
  stack.upstream = start_demo_upstream();
  stack.proxy =
      start_apimeter({"--upstream", stack.upstream.address(), "--access-log", "off", "--tls-cert-file",
                      stack.server.cert, "--tls-key-file", stack.server.key, "--tls-client-ca-file",
                      stack.pki->ca_file(), "--user-identity-source", "client_certificate"});

  for (int i = 0; i < 2; ++i) {
    RunResult ok = curl(stack, {"--cert", crm.cert, "--key", crm.key});
    ASSERT_EQ(ok.exit_code, 0) << ok.err_text() << stack.proxy.proc().describe();
  }
  MetricsText m = scrape_after_requests(stack.proxy.admin_port, 2);
  EXPECT_EQ(m.sum("apimeter_user_requests_total", {{"user", "CN=crm,O=Acme"}}), 2)
      << "users: " << ::testing::PrintToString(m.label_values("apimeter_user_requests_total", "user"));

  EXPECT_NE(curl(stack, {}).exit_code, 0) << "no client certificate";
  EXPECT_EQ(failures(scrape_failures(stack, "certificate_required", 1), "certificate_required"), 1);
  EXPECT_NE(curl(stack, {"--cert", expired.cert, "--key", expired.key}).exit_code, 0);
  EXPECT_EQ(failures(scrape_failures(stack, "certificate_expired", 1), "certificate_expired"), 1);
  EXPECT_NE(curl(stack, {"--cert", stranger.cert, "--key", stranger.key}).exit_code, 0);
  EXPECT_EQ(failures(scrape_failures(stack, "bad_certificate", 1), "bad_certificate"), 1);
}

TEST(TlsTest, CleartextSilenceAndOldVersionsAreRefusedAndCounted) {
  TlsStack stack = start_tls_stack({"--client-header-timeout", "300ms", "--tls-min-version", "1.3"});
  // Cleartext HTTP to the TLS port: refused, the upstream never sees it.
  HttpResponse plain = round_trip(stack.proxy.port, get_request("/headers"), 2s);
  EXPECT_EQ(plain.status, 0) << plain.head;
  EXPECT_EQ(failures(scrape_failures(stack, "http_request", 1), "http_request"), 1);
  // A TLS 1.2-only client under tls.min_version 1.3.
  RunResult old = curl(stack, {"--tls-max", "1.2"});
  EXPECT_NE(old.exit_code, 0) << old.out_text();
  EXPECT_EQ(failures(scrape_failures(stack, "unsupported_protocol", 1), "unsupported_protocol"), 1);
  // A connection that never starts its handshake is closed at the header timeout.
  RawConnection silent = RawConnection::connect(stack.proxy.port);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(silent.wait_closed(3s));
  EXPECT_LT(elapsed_ms(start), 2000);
  EXPECT_EQ(failures(scrape_failures(stack, "timeout", 1), "timeout"), 1);
}

TEST(TlsTest, AReloadThatRequiresClientCertificatesDoesNotLetOldSessionsResume) {
  const std::filesystem::path dir = test_temp_dir();
  TlsStack stack;
  stack.pki = std::make_unique<TestPki>(dir);
  stack.server = stack.pki->issue("server", "apimeter.test", true);
  auto config = [&](std::string_view mode) {
    return write_temp_file("apimeter.yaml", "tls:\n  cert_file: " + stack.server.cert +
                                                "\n  key_file: " + stack.server.key +
                                                "\n  client_ca_file: " + stack.pki->ca_file() +
                                                "\n  client_certificate: " + std::string(mode) + "\n");
  };
  stack.upstream = start_demo_upstream();
  stack.proxy = start_apimeter(
      {"--config", config("optional"), "--upstream", stack.upstream.address(), "--access-log", "off"});
  // Optional: a client without a certificate is served, and its session resumes.
  const std::string session = (dir / "session.pem").string();
  ASSERT_NE(s_client(stack, {"-tls1_2", "-sess_out", session}).out_text().find("New,"), std::string::npos);
  ASSERT_NE(s_client(stack, {"-tls1_2", "-sess_in", session}).out_text().find("Reused,"), std::string::npos);
  // Now required: the old ticket must not skip the certificate the policy asks for.
  config("required");
  ASSERT_EQ(reload_apimeter(stack.proxy), "configuration reloaded") << stack.proxy.proc().describe();
  RunResult resumed = s_client(stack, {"-tls1_2", "-sess_in", session});
  EXPECT_EQ(resumed.out_text().find("Reused,"), std::string::npos) << resumed.out_text();
  EXPECT_EQ(failures(scrape_failures(stack, "certificate_required", 1), "certificate_required"), 1);
}

TEST(TlsTest, AKeyThatIsNotTheCertificatesStopsTheStartWithBothFilesNamed) {
  TestPki pki(test_temp_dir());
  const CertFiles one = pki.issue("one", "one.test", true);
  const CertFiles other = pki.issue("other", "other.test", true);
  DemoUpstream upstream = start_demo_upstream();
  RunResult run =
      run_to_completion(apimeter_bin(),
                        {"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--upstream",
                         upstream.address(), "--tls-cert-file", one.cert, "--tls-key-file", other.key},
                        10s);
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.err_text().find("tls.key_file \\\"" + other.key +
                                "\\\" is not the key of the certificate in "
                                "tls.cert_file \\\"" +
                                one.cert + "\\\""),
            std::string::npos)
      << run.err_text();
}

TEST(TlsTest, CertificateReloadUnderLoadFailsNoRequestAndABadOneIsRejected) {
  const std::filesystem::path dir = test_temp_dir();
  auto pki = std::make_unique<TestPki>(dir);
  const CertFiles first = pki->issue("first", "first.apimeter.test", true);
  const std::string cert = write_temp_file("served.pem", "");
  const std::string key = write_temp_file("served.key", "");
  std::filesystem::copy_file(first.cert, cert, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(first.key, key, std::filesystem::copy_options::overwrite_existing);
  const std::string config =
      write_temp_file("apimeter.yaml", "tls:\n  cert_file: " + cert + "\n  key_file: " + key + "\n");
  TlsStack stack;
  stack.pki = std::move(pki);
  stack.upstream = start_demo_upstream();
  stack.proxy =
      start_apimeter({"--config", config, "--upstream", stack.upstream.address(), "--access-log", "off"});
  EXPECT_NE(s_client(stack, {}).out_text().find("CN = first.apimeter.test"), std::string::npos);

  // wrk keeps 8 keep-alive connections busy for 3 s across the reload; they keep the certificate they
  // started with, while the new connections curl opens meanwhile get the new one.
  Process load("wrk", {"-t", "1", "-c", "8", "-d", "3s", stack.url("/bytes/64")});
  std::this_thread::sleep_for(1s);
  const CertFiles second = stack.pki->issue("second", "second.apimeter.test", true);
  std::filesystem::copy_file(second.cert, cert, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(second.key, key, std::filesystem::copy_options::overwrite_existing);
  ASSERT_EQ(reload_apimeter(stack.proxy), "configuration reloaded") << stack.proxy.proc().describe();
  ASSERT_TRUE(load.running()) << "the reload must happen while wrk's connections are busy";
  // New connections meanwhile are served too.
  for (int i = 0; i < 3; ++i) {
    RunResult fresh = curl(stack, {"-o", "/dev/null", "-w", "%{http_code}"}, "/bytes/64");
    EXPECT_EQ(fresh.out_text(), "200\n") << fresh.err_text();
  }
  ASSERT_TRUE(load.wait_exit(15s).has_value());
  load.out().wait_closed(5s);  // the exit can be reaped before the last output is read
  const std::string report = load.out().text();
  EXPECT_NE(report.find("Requests/sec"), std::string::npos) << report;
  EXPECT_EQ(report.find("Socket errors"), std::string::npos) << report;
  EXPECT_EQ(report.find("Non-2xx"), std::string::npos) << report;
  EXPECT_NE(s_client(stack, {}).out_text().find("CN = second.apimeter.test"), std::string::npos);

  // A broken certificate file: the reload is rejected with the file named, the old certificate stays.
  write_temp_file("served.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
  const std::size_t from = stack.proxy.proc().err().size();
  EXPECT_TRUE(reload_apimeter(stack.proxy).starts_with("reload rejected"));
  EXPECT_TRUE(stack.proxy.proc().err().wait_for(contains("tls.cert_file \\\"" + cert + "\\\""), 2s, from))
      << stack.proxy.proc().describe();
  EXPECT_NE(s_client(stack, {}).out_text().find("CN = second.apimeter.test"), std::string::npos);
  MetricsText m = scrape_metrics(stack.proxy.admin_port);
  EXPECT_EQ(m.value("apimeter_config_reloads_total", {{"result", "failure"}}), 1);
}

}  // namespace
}  // namespace apimeter::test
