// The exporter's HTTP client: Beast over a private io_context, each step under the request's deadline.
#include "tracing/otlp_http_client.hpp"

#include "common/tls_client.hpp"

#include <charconv>
#include <ctime>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>

namespace apimeter::tracing {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

constexpr std::size_t kMaxResponseBody = 64 * 1024;

}  // namespace

OtlpHttpClient::OtlpHttpClient() : stream_(io_) {}
OtlpHttpClient::~OtlpHttpClient() { close(); }

void OtlpHttpClient::close() noexcept {
  tls_.reset();  // no close_notify: the connection is dropped, as after an error
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
  connected_ = false;
  buffer_.clear();
}

bool OtlpHttpClient::ensure_tls_context(const std::string& ca_file, std::string& error) {
  if (tls_context_ && tls_context_ca_file_ == ca_file) return true;
  auto context = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  if (!trust_certificates(*context, ca_file, "tracing.ca_file", error)) return false;
  tls_context_ = std::move(context);
  tls_context_ca_file_ = ca_file;
  return true;
}

PostOutcome OtlpHttpClient::post(const ExporterSettings& settings, std::string_view body, bool gzipped,
                                 std::chrono::steady_clock::time_point deadline) {
  bool reused = false;
  PostOutcome outcome = attempt(settings, body, gzipped, deadline, reused);
  // A kept-alive connection the collector closed while idle fails at once: one fresh connection.
  if (outcome.status == 0 && reused && std::chrono::steady_clock::now() < deadline)
    outcome = attempt(settings, body, gzipped, deadline, reused);
  return outcome;
}

PostOutcome OtlpHttpClient::attempt(const ExporterSettings& settings, std::string_view body, bool gzipped,
                                    std::chrono::steady_clock::time_point deadline, bool& reused) {
  PostOutcome out;
  // Runs one asynchronous operation to completion; the stream's expiry turns a stall into error::timeout.
  auto run = [this](auto start) {
    beast::error_code result = boost::asio::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    io_.restart();
    io_.run();
    return result;
  };
  auto fail = [&](std::string_view what, const beast::error_code& ec) {
    out.error = std::string(what) + ": " + ec.message();
    close();
    return out;
  };

  if (connected_ &&
      (connected_host_ != settings.host || connected_port_ != settings.port ||
       connected_tls_ != settings.tls || (settings.tls && tls_context_ca_file_ != settings.ca_file)))
    close();
  reused = connected_;
  if (!connected_) {
    tcp::resolver resolver(io_);
    beast::error_code ec;
    const auto endpoints = resolver.resolve(settings.host, std::to_string(settings.port), ec);
    if (ec) return fail("resolve " + settings.host, ec);
    stream_.expires_at(deadline);
    ec = run([&](auto handler) { stream_.async_connect(endpoints, std::move(handler)); });
    if (ec) return fail("connect " + settings.host + ":" + std::to_string(settings.port), ec);
    beast::error_code ignored;
    stream_.socket().set_option(tcp::no_delay(true), ignored);
    if (settings.tls) {
      std::string why;
      if (!ensure_tls_context(settings.ca_file, why)) {
        out.error = "tls: " + why;
        close();
        return out;
      }
      tls_ = std::make_unique<boost::asio::ssl::stream<beast::tcp_stream&>>(stream_, *tls_context_);
      // SNI for a name (not an address), and the certificate must name the host we connect to.
      if (!expect_peer(tls_->native_handle(), settings.host)) {
        out.error = "tls: cannot set the peer name " + settings.host;
        close();
        return out;
      }
      ec = run([&](auto handler) {
        tls_->async_handshake(boost::asio::ssl::stream_base::client, std::move(handler));
      });
      ERR_clear_error();
      if (ec) return fail("tls handshake with " + settings.host + ":" + std::to_string(settings.port), ec);
    }
    connected_ = true;
    connected_tls_ = settings.tls;
    connected_host_ = settings.host;
    connected_port_ = settings.port;
  }

  http::request<http::string_body> request{http::verb::post, settings.path, 11};
  request.set(http::field::host, settings.host + ":" + std::to_string(settings.port));
  request.set(http::field::content_type, "application/x-protobuf");
  request.set(http::field::user_agent, "apimeter-otlp-exporter/" APIMETER_TRACING_VERSION);
  if (gzipped) request.set(http::field::content_encoding, "gzip");
  for (const auto& [name, value] : settings.headers) request.set(name, value);
  request.body().assign(body);
  request.keep_alive(true);
  request.prepare_payload();

  stream_.expires_at(deadline);
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  // The exchange over whichever stream the connection is: TLS over the TCP stream (whose expiry still
  // bounds every step), or the TCP stream itself.
  auto exchange = [&](auto& stream) {
    beast::error_code ec = run([&](auto handler) { http::async_write(stream, request, std::move(handler)); });
    if (ec) {
      fail("send", ec);
      return false;
    }
    ec = run([&](auto handler) { http::async_read(stream, buffer_, parser, std::move(handler)); });
    if (ec) {
      fail("read response", ec);
      return false;
    }
    return true;
  };
  if (!(tls_ ? exchange(*tls_) : exchange(stream_))) return out;

  auto& response = parser.get();
  out.status = static_cast<int>(response.result_int());
  if (auto it = response.find(http::field::retry_after); it != response.end())
    out.retry_after = parse_retry_after(it->value(), std::chrono::system_clock::now());
  out.body = std::move(response.body());
  if (!response.keep_alive()) close();
  return out;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                          std::chrono::system_clock::time_point now) noexcept {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  std::uint64_t seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && end == value.data() + value.size())
    return std::chrono::milliseconds(std::min<std::uint64_t>(seconds, 86400) * 1000);
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  if (value.size() > 63) return std::nullopt;
  char text[64] = {};
  value.copy(text, value.size());
  std::tm tm{};
  const char* parsed = strptime(text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (parsed == nullptr || *parsed != '\0') return std::nullopt;
  const auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (at <= now) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::min<std::chrono::system_clock::duration>(at - now, std::chrono::hours(24)));
}

}  // namespace apimeter::tracing
