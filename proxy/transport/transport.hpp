// A connection's byte stream, client side or upstream side: its TCP socket, or TLS over that socket once
// start_tls() was called. The HTTP codec above reads and writes through this and never asks which;
// socket-level control (options, cancel, close) stays on the TCP socket underneath. No allocation per read
// or write: the TLS session is made once per connection. It knows whether a read or write of the caller's buffers is still
// in flight: a cancelled TLS read may already hold its bytes and decrypt them into the caller's buffer in a
// second step (Asio runs SSL_read after the socket read completes), so cancel() alone does not free it.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <memory>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include "common/asio_types.hpp"

namespace apimeter {

// The peer is gone: it closed (over TLS with or without its close_notify), or reset the connection.
inline bool is_peer_gone(const ErrorCode& ec) noexcept {
  return ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::ssl::error::stream_truncated;
}

class Transport {
 public:
  explicit Transport(Socket socket) noexcept : socket_(std::move(socket)) {}
  Transport(const Transport&) = delete;  // the TLS stream refers to socket_
  Transport& operator=(const Transport&) = delete;

  Socket& socket() noexcept { return socket_; }
  bool secure() const noexcept { return tls_ != nullptr; }
  // The TLS session (SSL*), or nullptr on a cleartext connection.
  SSL* tls_session() const noexcept { return tls_ ? tls_->native_handle() : nullptr; }

  // From here on the stream is TLS with `context`, which the session keeps alive (OpenSSL counts it).
  void start_tls(asio::ssl::context& context) {
    tls_ = std::make_unique<asio::ssl::stream<Socket&>>(socket_, context);
  }

  // handler(const ErrorCode&): as the TLS server (a client connection) or the TLS client (an upstream one).
  template <typename Handler>
  void async_handshake(asio::ssl::stream_base::handshake_type role, Handler&& handler) {
    tls_->async_handshake(role, std::forward<Handler>(handler));
  }
  // handler(const ErrorCode&, std::size_t): some bytes, as the socket's async_read_some. The handler must
  // keep the transport's owner alive (the connection's handlers hold it).
  template <typename Buffers, typename Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    auto done = counted(reads_pending_, std::forward<Handler>(handler));
    if (tls_) return tls_->async_read_some(buffers, std::move(done));
    socket_.async_read_some(buffers, std::move(done));
  }
  // handler(const ErrorCode&, std::size_t): all of `buffers`, as asio::async_write.
  template <typename Buffers, typename Handler>
  void async_write(const Buffers& buffers, Handler&& handler) {
    auto done = counted(writes_pending_, std::forward<Handler>(handler));
    if (tls_) return asio::async_write(*tls_, buffers, std::move(done));
    asio::async_write(socket_, buffers, std::move(done));
  }
  // A read or write of the caller's buffers has not completed yet (even if cancelled): those buffers must
  // not be reused until it has.
  bool write_pending() const noexcept { return writes_pending_ != 0; }
  bool buffers_in_use() const noexcept { return reads_pending_ != 0 || writes_pending_ != 0; }

  // For a connection with no operation pending, idle between exchanges: true when the peer closed, reset,
  // or sent bytes nobody asked for, so it cannot carry a request. One non-blocking MSG_PEEK; over TLS,
  // bytes that are there (in the socket, or already read into the TLS session with the last response)
  // are read through the session without blocking, because records that carry no data (TLS 1.3 session
  // tickets, a key update) are normal on an idle connection and are taken in here. The socket is left in
  // non-blocking mode, which Asio's asynchronous operations do not mind.
  bool idle_peer_spoke() noexcept {
    char byte;
    const ssize_t n = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;
    if (n == 0 || (n > 0 && !tls_)) return true;
    if (!tls_) return false;
    SSL* session = tls_->native_handle();
    if (n < 0 && SSL_has_pending(session) == 0 && BIO_ctrl_pending(SSL_get_rbio(session)) == 0) return false;
    ErrorCode ec;
    socket_.non_blocking(true, ec);
    if (ec) return true;
    // A key update the peer asks us to answer is written here too (a few bytes, into an empty socket
    // buffer: an idle connection has nothing else queued).
    const std::size_t data = tls_->read_some(asio::buffer(&byte, 1), ec);
    return data != 0 || ec != asio::error::would_block;
  }

  // The end of what we send. Cleartext: a FIN now, and handler(error) posted. TLS: a close_notify, then
  // the peer's read until it answers with its own or closes (the caller bounds it with a deadline). A read
  // still pending (cancelled) is fine: Asio queues the shutdown's reads behind it.
  template <typename Handler>
  void async_shutdown_send(Handler&& handler) {
    if (tls_) return tls_->async_shutdown(std::forward<Handler>(handler));
    ErrorCode ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    asio::post(socket_.get_executor(),
               [handler = std::forward<Handler>(handler), ec]() mutable { handler(ec); });
  }

 private:
  // `handler`, with `pending` counted up now and down as it runs.
  template <typename Handler>
  static auto counted(std::uint8_t& pending, Handler&& handler) {
    ++pending;
    return [&pending, handler = std::forward<Handler>(handler)](const ErrorCode& ec, std::size_t n) mutable {
      --pending;
      handler(ec, n);
    };
  }

  Socket socket_;
  std::unique_ptr<asio::ssl::stream<Socket&>> tls_;
  std::uint8_t reads_pending_ = 0;
  std::uint8_t writes_pending_ = 0;
};

}  // namespace apimeter
