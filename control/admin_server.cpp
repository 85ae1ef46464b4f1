// Admin sessions: keep-alive, bounded head and body, a deadline on every read and write.
#include "control/admin_server.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

namespace apimeter {
namespace beast = boost::beast;
namespace http = beast::http;

namespace {
constexpr auto kAdminTimeout = std::chrono::seconds(10);
constexpr std::size_t kAdminHeaderLimit = 8 * 1024;
constexpr std::size_t kAdminBodyLimit = 64 * 1024;
}  // namespace

class AdminServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(AdminServer& server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {}

  void start() { do_read(); }

 private:
  void do_read() {
    parser_.emplace();
    parser_->header_limit(kAdminHeaderLimit);
    parser_->body_limit(kAdminBodyLimit);
    stream_.expires_after(kAdminTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return shutdown();
    if (ec) return;
    auto& request = parser_->get();
    AdminRequest admin;
    admin.method = std::string(request.method_string());
    std::string_view target = request.target();
    auto q = target.find('?');
    admin.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) admin.query = std::string(target.substr(q + 1));
    admin.accept = std::string(request[http::field::accept]);
    admin.accept_encoding = std::string(request[http::field::accept_encoding]);

    AdminResponse result = server_.dispatch(admin);
    response_ = {};
    response_.version(request.version());
    response_.result(static_cast<unsigned>(result.status));
    response_.set(http::field::content_type, result.content_type);
    response_.set(http::field::cache_control, "no-store");
    for (auto& [name, value] : result.headers) response_.set(name, value);
    response_.body() = std::move(result.body);
    response_.keep_alive(request.keep_alive());
    if (request.method() == http::verb::head) {
      response_.content_length(response_.body().size());
      response_.body().clear();
    } else {
      response_.prepare_payload();
    }
    stream_.expires_after(kAdminTimeout);
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      if (!self->response_.keep_alive()) return self->shutdown();
      self->do_read();
    });
  }

  void shutdown() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  AdminServer& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
};

AdminServer::AdminServer(asio::io_context& io) : io_(io), acceptor_(io) {}

AdminServer::~AdminServer() = default;

tcp::endpoint AdminServer::listen(const tcp::endpoint& address, ErrorCode& ec) {
  acceptor_.open(address.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(address, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return {};
  return acceptor_.local_endpoint(ec);
}

void AdminServer::handle(std::string path, Handler handler) { handlers_[std::move(path)] = std::move(handler); }

void AdminServer::start() { do_accept(); }

void AdminServer::stop() {
  stopped_ = true;
  ErrorCode ignored;
  acceptor_.close(ignored);
}

void AdminServer::do_accept() {
  acceptor_.async_accept(io_, [this](const ErrorCode& ec, tcp::socket socket) {
    if (stopped_ || ec == asio::error::operation_aborted) return;
    if (!ec) std::make_shared<Session>(*this, std::move(socket))->start();
    do_accept();
  });
}

AdminResponse AdminServer::dispatch(const AdminRequest& request) const {
  auto it = handlers_.find(request.path);
  if (it == handlers_.end()) return {404, "text/plain; charset=utf-8", "not found\n", {}};
  if (request.method != "GET" && request.method != "HEAD") return {405, "text/plain; charset=utf-8", "method not allowed\n", {{"Allow", "GET, HEAD"}}};
  return it->second(request);
}

}  // namespace apimeter
