// The demo upstream's WebSocket echo (/ws): takes over a socket whose upgrade request the HTTP session has
// already parsed, answers the handshake, and echoes every text or binary message until the client closes.
// Worker thread only; like the HTTP session it never blocks and never throws.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <memory>

namespace apimeter::demo {

class WebSocketSession : public std::enable_shared_from_this<WebSocketSession> {
 public:
  explicit WebSocketSession(boost::asio::ip::tcp::socket socket);

  // Sends the 101 for `upgrade` (which need not outlive this call), then echoes. The session keeps itself
  // alive through its pending handlers.
  void run(boost::beast::http::request<boost::beast::http::buffer_body> const& upgrade);

 private:
  void on_accept(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void on_write(boost::beast::error_code ec, std::size_t bytes);

  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_;
  boost::beast::flat_buffer buffer_;  // one whole message at a time
};

}  // namespace apimeter::demo
