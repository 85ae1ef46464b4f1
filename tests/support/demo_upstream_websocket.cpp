// The demo upstream's WebSocket echo: handshake from an already parsed request, then read a message, write
// it back with the same opcode, repeat. Beast answers pings and the closing handshake itself.
#include "tests/support/demo_upstream_websocket.hpp"

#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/websocket.hpp>

namespace apimeter::demo {

namespace beast = boost::beast;
namespace websocket = beast::websocket;

WebSocketSession::WebSocketSession(boost::asio::ip::tcp::socket socket) : ws_(std::move(socket)) {
  // Handshake and close deadlines, no idle timeout: a test may keep a quiet connection open on purpose.
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.idle_timeout = websocket::stream_base::none();
  ws_.set_option(timeouts);
}

void WebSocketSession::run(beast::http::request<beast::http::buffer_body> const& upgrade) {
  ws_.async_accept(upgrade, beast::bind_front_handler(&WebSocketSession::on_accept, shared_from_this()));
}

void WebSocketSession::on_accept(beast::error_code ec) {
  if (ec) return;  // handshake refused (Beast already sent the 400) or the peer went away
  do_read();
}

void WebSocketSession::do_read() {
  ws_.async_read(buffer_, beast::bind_front_handler(&WebSocketSession::on_read, shared_from_this()));
}

void WebSocketSession::on_read(beast::error_code ec, std::size_t) {
  // The client closed and Beast has completed the closing handshake: the normal end.
  if (ec == websocket::error::closed) return;
  if (ec) return;
  ws_.text(ws_.got_text());
  ws_.async_write(buffer_.data(), beast::bind_front_handler(&WebSocketSession::on_write, shared_from_this()));
}

void WebSocketSession::on_write(beast::error_code ec, std::size_t) {
  if (ec) return;
  buffer_.consume(buffer_.size());
  do_read();
}

}  // namespace apimeter::demo
