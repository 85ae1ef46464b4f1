// The admin listener: a small Beast HTTP/1.1 server on its own address and on the control thread, never on
// a worker. Endpoints register a handler by path; /healthz and /readyz come from the Server, /metrics and
// friends from the metrics and tracing modules.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/asio_types.hpp"

namespace apimeter {

struct AdminRequest {
  std::string method;
  std::string path;
  std::string query;
  std::string accept;           // Accept header, for content negotiation
  std::string accept_encoding;  // Accept-Encoding header
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class AdminServer {
 public:
  using Handler = std::function<AdminResponse(const AdminRequest&)>;

  explicit AdminServer(asio::io_context& io);
  ~AdminServer();
  // Binds and listens; returns the bound endpoint (port 0 resolves to the real port).
  tcp::endpoint listen(const tcp::endpoint& address, ErrorCode& ec);
  void handle(std::string path, Handler handler);
  void start();
  void stop();

 private:
  class Session;
  void do_accept();
  AdminResponse dispatch(const AdminRequest& request) const;

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  std::map<std::string, Handler, std::less<>> handlers_;
  bool stopped_ = false;
};

}  // namespace apimeter
