// The admin client: resolve, connect, GET, read, under one deadline. It runs the operations asynchronously
// on a private io_context because Beast's stream deadlines only bound async operations; to its caller it is
// a plain blocking call. Never used on the data plane.
#include "control/admin_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <optional>

#include "control/options.hpp"

namespace apimeter {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class Request {
 public:
  Request(asio::io_context& io, const HostPort& admin, std::string_view target, Duration timeout,
          std::size_t body_limit, std::string_view user_agent)
      : admin_(admin), target_(target), timeout_(timeout), resolver_(io), stream_(io) {
    answer_.url = "http://" + admin.to_string() + target_;
    request_.method(http::verb::get);
    request_.target(target_);
    request_.version(11);
    request_.set(http::field::host, admin_.to_string());
    request_.set(http::field::user_agent, user_agent);
    request_.set(http::field::accept, "*/*");
    request_.set(http::field::connection, "close");
    parser_.body_limit(body_limit);
  }

  void do_resolve() {
    resolver_.async_resolve(admin_.host, std::to_string(admin_.port),
                            [this](beast::error_code ec, tcp::resolver::results_type results) {
                              on_resolve(ec, std::move(results));
                            });
  }

  bool finished() const { return finished_; }
  AdminAnswer& answer() { return answer_; }

 private:
  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return fail("cannot resolve " + admin_.host + ": " + ec.message());
    stream_.expires_after(timeout_);
    stream_.async_connect(results, [this](beast::error_code ec, const tcp::endpoint&) { on_connect(ec); });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail(failure("cannot connect to " + admin_.to_string(), ec));
    http::async_write(stream_, request_, [this](beast::error_code ec, std::size_t) { on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) return fail(failure("cannot send to " + answer_.url, ec));
    http::async_read(stream_, buffer_, parser_, [this](beast::error_code ec, std::size_t) { on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return fail(failure("no valid answer from " + answer_.url, ec));
    answer_.status = static_cast<int>(parser_.get().result_int());
    answer_.body = std::move(parser_.get().body());
    finish();
  }

  std::string failure(const std::string& what, beast::error_code ec) const {
    if (ec == beast::error::timeout) return "no answer from " + answer_.url + " within " + format_duration(timeout_);
    return what + ": " + ec.message();
  }

  void fail(std::string why) {
    answer_.error = std::move(why);
    finish();
  }

  void finish() {
    finished_ = true;
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

  HostPort admin_;
  std::string target_;
  Duration timeout_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  http::request<http::empty_body> request_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  AdminAnswer answer_;
  bool finished_ = false;
};

}  // namespace

AdminAnswer admin_get(const HostPort& admin, std::string_view target, Duration timeout, std::size_t body_limit,
                      std::string_view user_agent) {
  try {
    asio::io_context io;
    Request request(io, admin, target, timeout, body_limit, user_agent);
    request.do_resolve();
    // The stream's deadline bounds connect, write and read; this bounds name resolution as well.
    io.run_for(timeout);
    AdminAnswer answer = std::move(request.answer());
    if (!request.finished()) answer.error = "no answer from " + answer.url + " within " + format_duration(timeout);
    return answer;
  } catch (const std::exception& error) {
    AdminAnswer answer;
    answer.url = "http://" + admin.to_string() + std::string(target);
    answer.error = error.what();
    return answer;
  }
}

}  // namespace apimeter
