// TLS to the upstream with real TLS servers: an apimeter terminating TLS in front of the demo upstream
// (OpenSSL 3 on the server side, with its own handshake metrics as a witness), `openssl s_server`
// choosing its certificate by SNI, and a small OpenSSL origin in this file that sends a session ticket
// after each response. Verification of chain, name, validity; mutual TLS; session resumption; and an
// idle pooled connection with a post-handshake record on it staying in use.
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "tests/integration/harness.hpp"
#include "tests/support/test_pki.hpp"

namespace apimeter::test {
namespace {

constexpr std::string_view kConnectErrors = "apimeter_upstream_connect_errors_total";
constexpr std::string_view kUpstreamHandshakes = "apimeter_upstream_tls_handshakes_total";

// The origin: apimeter serving HTTPS (a certificate for 127.0.0.1 and localhost from a fresh CA, valid
// for `valid_days`) in front of the demo upstream; with `require_client_certificate`, only clients with a
// certificate from that CA get through, and its subject is their user.
struct TlsOrigin {
  std::unique_ptr<TestPki> pki = std::make_unique<TestPki>(test_temp_dir());
  CertFiles certificate;
  DemoUpstream upstream;
  Apimeter front;
  std::string address() const { return "127.0.0.1:" + std::to_string(front.port); }
};

TlsOrigin start_origin(long valid_days = 30, bool require_client_certificate = false) {
  TlsOrigin origin;
  origin.certificate = origin.pki->issue("origin", "origin.test", /*server=*/true, valid_days);
  origin.upstream = start_demo_upstream();
  std::vector<std::string> args{
      "--upstream",      origin.upstream.address(), "--access-log",   "off",
      "--tls-cert-file", origin.certificate.cert,   "--tls-key-file", origin.certificate.key};
  if (require_client_certificate)
    args.insert(args.end(), {"--tls-client-ca-file", origin.pki->ca_file(), "--user-identity-source",
                             "client_certificate"});
  origin.front = start_apimeter(std::move(args));
  return origin;
}

// The proxy under test: cleartext listener, TLS to `upstream`; `args` come last.
Apimeter start_tls_proxy(const std::string& upstream, std::vector<std::string> args) {
  std::vector<std::string> all{"--upstream",   upstream, "--upstream-tls", "true",
                               "--access-log", "off",    "--workers",      "1"};
  all.insert(all.end(), args.begin(), args.end());
  return start_apimeter(std::move(all));
}

// The "127.0.0.1:PORT" `openssl s_server -accept 127.0.0.1:0` bound, once it says so; empty if it does not.
std::string s_server_address(Process& server) {
  std::optional<std::string> accept = server.wait_for_stdout(contains("ACCEPT"), 10s);
  const std::size_t at = accept ? accept->find("127.0.0.1:") : std::string::npos;
  return at == std::string::npos ? std::string() : accept->substr(at);
}

TEST(UpstreamTlsTest, ForwardsOverVerifiedTlsAndReusesTheConnection) {
  TlsOrigin origin = start_origin();
  Apimeter proxy = start_tls_proxy(origin.address(), {"--upstream-tls-ca-file", origin.pki->ca_file()});
  for (int i = 0; i < 3; ++i) {
    HttpResponse response = http_get(proxy.port, "/headers");
    ASSERT_EQ(response.status, 200) << response.error << proxy.proc().describe();
    // The origin saw a request that crossed TLS: it says so to the demo behind it.
    EXPECT_EQ(echoed_header(response.body, "X-Forwarded-Proto"), "https") << response.body;
  }
  // The certificate names 127.0.0.1 (an IP SAN): verified without SNI. One handshake for three
  // requests: the TLS connection went back to the pool and was taken again.
  MetricsText m = scrape_after_requests(proxy.admin_port, 3);
  EXPECT_EQ(m.sum(kUpstreamHandshakes, {{"tls_protocol_version", "1.3"}}), 1);
  EXPECT_EQ(m.sum(kConnectErrors), 0);
  MetricsText at_origin = scrape_after_requests(origin.front.admin_port, 3);
  EXPECT_EQ(at_origin.sum("apimeter_tls_handshakes_total", {{"result", "success"}}), 1);
}

TEST(UpstreamTlsTest, RefusesACertificateItCannotTrustAndSaysWhy) {
  TlsOrigin origin = start_origin();
  // No CA file: the system's store does not know the test CA.
  Apimeter proxy = start_tls_proxy(origin.address(), {});
  HttpResponse response = http_get(proxy.port, "/headers");
  EXPECT_EQ(response.status, 502) << proxy.proc().describe();
  EXPECT_EQ(response.body, "upstream TLS certificate not accepted\n");
  MetricsText m = scrape_after_requests(proxy.admin_port, 1);
  EXPECT_EQ(m.sum(kConnectErrors, {{"error_type", "tls_certificate_untrusted"}}), 1);
  EXPECT_EQ(m.sum("http_server_request_duration_seconds_count", {{"error_type", "upstream_tls_certificate"}}),
            1);
  // Nothing was forwarded: the origin only saw a handshake its client gave up on.
  MetricsText at_origin = scrape_until(origin.front.admin_port, [](const MetricsText& m) {
    return m.sum("apimeter_tls_handshakes_total", {{"error_type", "peer_rejected_certificate"}}) >= 1;
  });
  EXPECT_EQ(at_origin.sum("apimeter_tls_handshakes_total", {{"error_type", "peer_rejected_certificate"}}), 1);
  EXPECT_EQ(at_origin.sum("http_server_request_duration_seconds_count"), 0);

  // With verification off the same certificate is taken: encrypted, but nobody checked whom to.
  Apimeter unverified = start_tls_proxy(origin.address(), {"--upstream-tls-verify", "false"});
  EXPECT_EQ(http_get(unverified.port, "/headers").status, 200) << unverified.proc().describe();
  EXPECT_TRUE(unverified.proc().wait_for_stderr(
      json_field_is("message", "upstreams over TLS without certificate verification"), 5s));
}

TEST(UpstreamTlsTest, ChecksTheNameAndTheValidityOfTheCertificate) {
  TlsOrigin origin = start_origin();
  // The certificate names localhost and 127.0.0.1, not the server name we ask for.
  Apimeter wrong_name = start_tls_proxy(origin.address(), {"--upstream-tls-ca-file", origin.pki->ca_file(),
                                                           "--upstream-tls-server-name", "api.test"});
  EXPECT_EQ(http_get(wrong_name.port, "/headers").status, 502);
  MetricsText m = scrape_after_requests(wrong_name.admin_port, 1);
  EXPECT_EQ(m.sum(kConnectErrors, {{"error_type", "tls_certificate_name_mismatch"}}), 1);
  // The name it does carry passes.
  Apimeter right_name = start_tls_proxy(origin.address(), {"--upstream-tls-ca-file", origin.pki->ca_file(),
                                                           "--upstream-tls-server-name", "localhost"});
  EXPECT_EQ(http_get(right_name.port, "/headers").status, 200) << right_name.proc().describe();

  TlsOrigin expired = start_origin(/*valid_days=*/-1);
  Apimeter proxy = start_tls_proxy(expired.address(), {"--upstream-tls-ca-file", expired.pki->ca_file()});
  EXPECT_EQ(http_get(proxy.port, "/headers").status, 502);
  MetricsText e = scrape_after_requests(proxy.admin_port, 1);
  EXPECT_EQ(e.sum(kConnectErrors, {{"error_type", "tls_certificate_expired"}}), 1);
}

TEST(UpstreamTlsTest, SendsTheServerNameAsSni) {
  // s_server serves its default certificate (another CA's) unless the client's SNI is localhost, for
  // which it serves one our CA signed: only a proxy that sends SNI can verify it.
  TestPki ours(test_temp_dir(), "ours");
  TestPki theirs(test_temp_dir(), "theirs", "some other CA");
  const CertFiles by_sni = ours.issue("sni", "localhost", /*server=*/true);
  const CertFiles fallback = theirs.issue("default", "default.test", /*server=*/true);
  Process server("openssl",
                 {"s_server", "-accept", "127.0.0.1:0", "-www", "-cert", fallback.cert, "-key", fallback.key,
                  "-servername", "localhost", "-cert2", by_sni.cert, "-key2", by_sni.key});
  const std::string address = s_server_address(server);
  ASSERT_FALSE(address.empty()) << server.describe();

  Apimeter proxy =
      start_tls_proxy(address, {"--upstream-tls-ca-file", ours.ca_file(), "--upstream-tls-server-name",
                                "localhost", "--pool-max-idle", "0"});
  HttpResponse response = http_get(proxy.port, "/");
  ASSERT_EQ(response.status, 200) << response.error << proxy.proc().describe() << server.describe();
  // -www answers with the session it negotiated: TLS 1.3, as the proxy offers by default.
  EXPECT_NE(response.body.find("TLSv1.3"), std::string::npos) << response.body;
}

TEST(UpstreamTlsTest, PresentsAClientCertificateToAnOriginThatRequiresOne) {
  TlsOrigin origin = start_origin(30, /*require_client_certificate=*/true);
  // Without a certificate: TLS 1.3 lets our side finish the handshake, and the origin's refusal comes
  // back in place of the response; it is still told apart from an upstream that reset.
  Apimeter anonymous = start_tls_proxy(origin.address(), {"--upstream-tls-ca-file", origin.pki->ca_file()});
  HttpResponse refused = http_get(anonymous.port, "/headers");
  EXPECT_EQ(refused.status, 502) << anonymous.proc().describe();
  EXPECT_EQ(refused.body, "upstream TLS handshake failed\n");
  MetricsText m = scrape_after_requests(anonymous.admin_port, 1);
  EXPECT_EQ(m.sum(kConnectErrors, {{"error_type", "tls_client_certificate_rejected"}}), 1);

  const CertFiles client = origin.pki->issue("proxy", "shop-sidecar", /*server=*/false);
  Apimeter proxy = start_tls_proxy(
      origin.address(), {"--upstream-tls-ca-file", origin.pki->ca_file(), "--upstream-tls-cert-file",
                         client.cert, "--upstream-tls-key-file", client.key});
  ASSERT_EQ(http_get(proxy.port, "/headers").status, 200) << proxy.proc().describe();
  // The origin knows who called: the subject of our certificate is its user.
  MetricsText at_origin = scrape_after_requests(origin.front.admin_port, 1);
  EXPECT_EQ(at_origin.sum("apimeter_user_requests_total", {{"user", "CN=shop-sidecar,O=Acme"}}), 1);
}

TEST(UpstreamTlsTest, NewConnectionsResumeTheLastSession) {
  TlsOrigin origin = start_origin();
  // No idle connections kept: every request opens a new TLS connection to the origin.
  Apimeter proxy = start_tls_proxy(origin.address(), {"--upstream-tls-ca-file", origin.pki->ca_file(),
                                                      "--pool-max-idle", "0", "--access-log", "stdout"});
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(http_get(proxy.port, "/headers").status, 200) << proxy.proc().describe();
  // TLS 1.3: the tickets arrive after the handshake and are read with the response; each later
  // connection resumes with the newest one.
  MetricsText m = scrape_after_requests(proxy.admin_port, 4);
  EXPECT_EQ(m.sum(kUpstreamHandshakes), 4);
  EXPECT_EQ(m.sum("apimeter_upstream_tls_sessions_resumed_total"), 3);
  MetricsText at_origin = scrape_after_requests(origin.front.admin_port, 4);
  EXPECT_EQ(at_origin.sum("apimeter_tls_sessions_resumed_total"), 3);

  // TLS 1.2, from a server that does not issue a new ticket when it resumes one: the session cached
  // after the first connection is offered again and again, and must outlive each connection that used it
  // (OpenSSL spoils the session a connection holds when it ends without a close_notify).
  Process tls12("openssl", {"s_server", "-accept", "127.0.0.1:0", "-www", "-tls1_2", "-cert",
                            origin.certificate.cert, "-key", origin.certificate.key});
  const std::string tls12_address = s_server_address(tls12);
  ASSERT_FALSE(tls12_address.empty()) << tls12.describe();
  Apimeter proxy12 = start_tls_proxy(
      tls12_address, {"--upstream-tls-ca-file", origin.pki->ca_file(), "--pool-max-idle", "0"});
  for (int i = 0; i < 4; ++i) {
    HttpResponse response = http_get(proxy12.port, "/");
    ASSERT_EQ(response.status, 200) << proxy12.proc().describe() << tls12.describe();
    // s_server's page shows the session: "New" the first time, "Reused" after.
    EXPECT_NE(response.body.find(i == 0 ? "New, TLSv1.2" : "Reused, TLSv1.2"), std::string::npos) << i;
  }
  MetricsText m12 = scrape_after_requests(proxy12.admin_port, 4);
  EXPECT_EQ(m12.sum(kUpstreamHandshakes, {{"tls_protocol_version", "1.2"}}), 4);
  EXPECT_EQ(m12.sum("apimeter_upstream_tls_sessions_resumed_total"), 3);

  // A reload may change whom to trust: sessions made before it are not offered after it.
  const std::string config = write_temp_file(
      "proxy.yaml", "upstream_tls:\n  enabled: true\n  ca_file: " + origin.pki->ca_file() + "\n");
  Apimeter reloaded = start_tls_proxy(origin.address(), {"--config", config, "--pool-max-idle", "0"});
  ASSERT_EQ(http_get(reloaded.port, "/headers").status, 200);
  ASSERT_EQ(reload_apimeter(reloaded), "configuration reloaded") << reloaded.proc().describe();
  ASSERT_EQ(http_get(reloaded.port, "/headers").status, 200);
  ASSERT_EQ(http_get(reloaded.port, "/headers").status, 200);
  MetricsText r = scrape_after_requests(reloaded.admin_port, 3);
  EXPECT_EQ(r.sum("apimeter_upstream_tls_sessions_resumed_total"), 1) << "only the third request resumes";
}

TEST(UpstreamTlsTest, RequestBodiesArriveIntactSmallAndLarge) {
  TlsOrigin origin = start_origin();
  Apimeter proxy = start_tls_proxy(origin.address(), {"--upstream-tls-ca-file", origin.pki->ca_file()});
  // A body that fits behind the head (sent with it as one record), one far larger than a buffer, and a
  // chunked one. Each on its own client connection: the demo echoes while it reads, so a response head may
  // come back before a large body is all sent, and such a response is its connection's last.
  auto echo = [&](const std::string& request) {
    RawConnection client = RawConnection::connect(proxy.port);
    EXPECT_TRUE(client.send(request));
    return read_response(client, kIo);
  };
  for (const std::string& body : {std::string("hello over tls"), demo_pattern(300000)}) {
    HttpResponse echoed = echo(body_request("POST", "/echo", body));
    ASSERT_EQ(echoed.status, 200) << echoed.error << proxy.proc().describe();
    EXPECT_TRUE(echoed.body == body) << echoed.body.size() << " bytes back for " << body.size();
  }
  HttpResponse chunked = echo("POST /echo HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5\r\nhello\r\n6\r\n chunk\r\n0\r\n\r\n");
  ASSERT_EQ(chunked.status, 200) << chunked.error << proxy.proc().describe();
  EXPECT_EQ(chunked.body, "hello chunk");
}

TEST(UpstreamTlsTest, WebSocketTunnelsThroughATlsUpstream) {
  TlsOrigin origin = start_origin();
  Apimeter proxy = start_tls_proxy(origin.address(), {"--upstream-tls-ca-file", origin.pki->ca_file()});
  RawConnection client = RawConnection::connect(proxy.port);
  ASSERT_TRUE(client.send(get_request("/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
                                                 std::string(ws::kSampleKey) + "\r\nSec-WebSocket-Version: 13\r\n")));
  HttpResponse upgraded = read_response(client, kIo);
  ASSERT_EQ(upgraded.status, 101) << upgraded.error << proxy.proc().describe();
  const std::string big = demo_pattern(100000);
  ASSERT_TRUE(client.send(websocket_client_frame(ws::kBinary, big)));
  std::optional<WebSocketFrame> echo = read_websocket_message(client, kIo);
  ASSERT_TRUE(echo.has_value());
  EXPECT_TRUE(echo->payload == big) << echo->payload.size();
  // The close handshake ends the tunnel on both legs, TLS included.
  ASSERT_TRUE(client.send(websocket_client_frame(ws::kClose, std::string("\x03\xe8", 2))));
  std::optional<WebSocketFrame> close = read_websocket_message(client, kIo);
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->opcode, ws::kClose);
  EXPECT_TRUE(client.wait_closed(kIo));
}

// An HTTPS origin on one thread, OpenSSL in blocking mode: GET requests (no body) on keep-alive
// connections, each answered "ok" and followed 200 ms later by a fresh TLS 1.3 session ticket, so every
// idle connection gets a handshake record on it that the client has not read. Counts connections.
class TicketingOrigin {
 public:
  explicit TicketingOrigin(const CertFiles& certificate) {
    context_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(context_, TLS1_3_VERSION);
    if (SSL_CTX_use_certificate_chain_file(context_, certificate.cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(context_, certificate.key.c_str(), SSL_FILETYPE_PEM) != 1)
      throw std::runtime_error("TicketingOrigin: cannot load the certificate");
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 16) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw std::runtime_error("TicketingOrigin: cannot listen");
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~TicketingOrigin() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    if (const int client = client_.load(); client >= 0) ::shutdown(client, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
    SSL_CTX_free(context_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }
  int tickets() const { return tickets_.load(); }  // sent after a response

 private:
  void run() {
    while (!stopping_) {
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      ++connections_;
      client_ = client;
      serve(client);
      client_ = -1;
      ::close(client);
    }
  }
  void serve(int client) {
    SSL* ssl = SSL_new(context_);
    SSL_set_fd(ssl, client);
    if (SSL_accept(ssl) == 1) {
      std::string in;
      char chunk[4096];
      for (;;) {
        const int n = SSL_read(ssl, chunk, sizeof chunk);
        if (n <= 0) break;
        in.append(chunk, static_cast<std::size_t>(n));
        for (std::size_t end; (end = in.find("\r\n\r\n")) != std::string::npos;) {
          in.erase(0, end + 4);
          ++requests_;
          static constexpr std::string_view kReply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
          if (SSL_write(ssl, kReply.data(), static_cast<int>(kReply.size())) <= 0) break;
          // A new ticket a while after the response, so it reaches the client as a record of its own
          // while the connection sits idle in the pool (not read along with the response).
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          if (SSL_new_session_ticket(ssl) == 1 && SSL_do_handshake(ssl) == 1) ++tickets_;
        }
      }
    }
    SSL_free(ssl);
    ERR_clear_error();
  }

  SSL_CTX* context_ = nullptr;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> client_{-1};
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> tickets_{0};
  std::thread thread_;
};

TEST(UpstreamTlsTest, AnIdleConnectionWithATicketOnItIsStillReused) {
  TestPki pki(test_temp_dir());
  TicketingOrigin origin(pki.issue("origin", "origin.test", /*server=*/true));
  Apimeter proxy = start_tls_proxy(origin.address(), {"--upstream-tls-ca-file", pki.ca_file()});
  for (int i = 1; i <= 3; ++i) {
    HttpResponse response = http_get(proxy.port, "/");
    ASSERT_EQ(response.status, 200) << response.error << proxy.proc().describe();
    EXPECT_EQ(response.body, "ok");
    // The ticket is on its way; once it has been sent, idle past the point where a pooled connection is
    // checked before reuse (100 ms): the unread ticket must not make it look closed by the origin.
    ASSERT_TRUE(poll_until([&] { return origin.tickets() == i; }, 5s));
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_EQ(origin.requests(), 3);
  EXPECT_EQ(origin.connections(), 1) << "the pooled TLS connection was dropped for its unread ticket";
  MetricsText m = scrape_after_requests(proxy.admin_port, 3);
  EXPECT_EQ(m.sum(kUpstreamHandshakes), 1);
}

TEST(UpstreamTlsTest, AnUpstreamTimeoutAbandonsTheTlsReadAndTheClientConnectionGoesOn) {
  TlsOrigin origin = start_origin();
  Apimeter proxy = start_tls_proxy(origin.address(), {"--upstream-tls-ca-file", origin.pki->ca_file(),
                                                      "--upstream-response-timeout", "200ms"});
  // One client connection: a response that does not come in time, then a quick one. The first exchange
  // gives up on its upstream connection with a TLS read pending; the second gets a new one.
  RawConnection client = RawConnection::connect(proxy.port);
  client.send(get_request("/delay/1000"));
  HttpResponse late = read_response(client, kIo);
  EXPECT_EQ(late.status, 504) << late.error << proxy.proc().describe();
  client.send(get_request("/headers"));
  HttpResponse next = read_response(client, kIo);
  EXPECT_EQ(next.status, 200) << next.error << proxy.proc().describe();
  MetricsText m = scrape_after_requests(proxy.admin_port, 2);
  EXPECT_EQ(m.sum(kUpstreamHandshakes), 2);
  EXPECT_EQ(m.sum("http_server_request_duration_seconds_count", {{"error_type", "upstream_timeout"}}), 1);
}

}  // namespace
}  // namespace apimeter::test
