// The healthcheck client: resolve, connect, GET /readyz, read the status, under one deadline. It runs the
// operations asynchronously on a private io_context because Beast's stream deadlines only bound async
// operations; to its caller it is a plain blocking call. Never used on the data plane.
#include "proxy/healthcheck.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>
#include <optional>
#include <string>

#include "proxy/options.hpp"

namespace apimeter {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::size_t kMaxReadyzBodyBytes = 64 * 1024;

class Probe {
 public:
  Probe(asio::io_context& io, const HostPort& admin, Duration timeout)
      : admin_(admin),
        timeout_(timeout),
        resolver_(io),
        stream_(io),
        url_("http://" + admin.to_string() + "/readyz") {}

  void do_resolve() {
    resolver_.async_resolve(admin_.host, std::to_string(admin_.port),
                            [this](beast::error_code ec, tcp::resolver::results_type results) {
                              on_resolve(ec, std::move(results));
                            });
  }

  // The outcome once finished: nullopt while running, "" on 200, else why not.
  const std::optional<std::string>& outcome() const { return outcome_; }
  const std::string& url() const { return url_; }

 private:
  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return finish("cannot resolve " + admin_.host + ": " + ec.message());
    stream_.expires_after(timeout_);
    stream_.async_connect(results, [this](beast::error_code ec, const tcp::endpoint&) { on_connect(ec); });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return finish(failure("cannot connect to " + admin_.to_string(), ec));
    request_.method(http::verb::get);
    request_.target("/readyz");
    request_.version(11);
    request_.set(http::field::host, admin_.to_string());
    request_.set(http::field::user_agent, "apimeter-healthcheck");
    request_.set(http::field::connection, "close");
    http::async_write(stream_, request_, [this](beast::error_code ec, std::size_t) { on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) return finish(failure("cannot send to " + url_, ec));
    parser_.body_limit(kMaxReadyzBodyBytes);
    http::async_read(stream_, buffer_, parser_, [this](beast::error_code ec, std::size_t) { on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return finish(failure("no valid answer from " + url_, ec));
    const auto& response = parser_.get();
    if (response.result_int() == 200) return finish("");
    std::string body = response.body().substr(0, response.body().find('\n'));
    if (body.size() > 200) body.resize(200);
    finish(url_ + " answered " + std::to_string(response.result_int()) + (body.empty() ? "" : ": " + body));
  }

  std::string failure(const std::string& what, beast::error_code ec) const {
    if (ec == beast::error::timeout) return "no answer from " + url_ + " within " + format_duration(timeout_);
    return what + ": " + ec.message();
  }

  void finish(std::string outcome) {
    outcome_ = std::move(outcome);
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

  HostPort admin_;
  Duration timeout_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  std::string url_;
  http::request<http::empty_body> request_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  std::optional<std::string> outcome_;
};

}  // namespace

int run_healthcheck(const HostPort& admin, Duration timeout) {
  try {
    asio::io_context io;
    Probe probe(io, admin, timeout);
    probe.do_resolve();
    // The stream's deadline bounds connect, write and read; this bounds name resolution as well.
    io.run_for(timeout);
    if (!probe.outcome()) {
      std::fprintf(stderr, "healthcheck: no answer from %s within %s\n", probe.url().c_str(),
                   format_duration(timeout).c_str());
      return 1;
    }
    if (probe.outcome()->empty()) return 0;
    std::fprintf(stderr, "healthcheck: %s\n", probe.outcome()->c_str());
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "healthcheck: %s\n", error.what());
    return 1;
  }
}

}  // namespace apimeter
