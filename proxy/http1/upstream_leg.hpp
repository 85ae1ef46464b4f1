// The upstream side of one exchange over HTTP/1.1: take a pooled connection or open one (TCP, then TLS
// when configured) walking the endpoints, write the request head its owner composes, read the response
// head (interim ones too) and the body as the upstream frames it, replay a request a stale pooled
// connection lost, and give the connection back to the pool or close it. The client side (an HTTP/1.1
// connection today, an HTTP/2 stream next) is its owner: it supplies the request, relays what the leg
// reads, and holds the leg's deadline. No locks, no exceptions, no allocation per exchange.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "common/asio_types.hpp"
#include "proxy/buffer_pool.hpp"
#include "proxy/exchange.hpp"
#include "proxy/http1/chunked_decoder.hpp"
#include "proxy/http1/header_rewriter.hpp"
#include "proxy/http1/http_head_parser.hpp"
#include "proxy/proxy_error.hpp"
#include "proxy/upstream_pool.hpp"

namespace apimeter {

class Worker;
struct Snapshot;

// What an upstream leg needs from the client side of its exchange. Called on the worker's thread, from
// the leg's completion handlers; a callback may end the exchange (and so give the leg up).
class UpstreamLegOwner {
 public:
  // Keeps the owner (and the leg inside it) alive while an operation of the leg is pending.
  virtual std::shared_ptr<void> hold() noexcept = 0;
  // The request head for the upstream, written again for a replay; the writer reports an overflow.
  virtual void compose_request_head(HeadWriter& writer) noexcept = 0;
  // Request body bytes that go out with the head and stay readable while the request may be replayed.
  virtual std::span<const char> replayable_body() const noexcept = 0;
  // The whole request may be sent again (its body is complete and the method allows it).
  virtual bool request_replayable() const noexcept = 0;
  virtual void on_request_head_sent() = 0;
  virtual void on_request_body_sent(const ErrorCode& ec) = 0;  // the part given to send_body()
  virtual void on_response_begun() noexcept = 0;  // the first response byte: no replay from here on
  virtual void on_upstream_interim() = 0;         // response() is a 1xx head
  virtual void on_upstream_final() = 0;           // response() is the final head; take_first_body() next
  // `bytes` of body for the client at the front of the response buffer (0: nothing new, look at
  // read_done() and broken()).
  virtual void on_upstream_body(std::size_t bytes) = 0;
  virtual void on_upstream_failed(ProxyError error) = 0;
  virtual void set_upstream_deadline(Duration timeout) noexcept = 0;  // 0: none
  virtual void clear_upstream_deadline() noexcept = 0;
  virtual void on_upstream_operations_done() noexcept = 0;  // the last counted TLS operation completed
};

class Http1UpstreamLeg {
 public:
  enum class State : std::uint8_t { none, connecting, handshaking, sending, awaiting_head, body };

  // `request_head` and `response_in` are the owner's buffers: the leg writes the request head into the
  // first (acquiring it when empty) and reads the response into the second.
  Http1UpstreamLeg(Worker& worker, UpstreamLegOwner& owner, Exchange& exchange, IoBuffer& request_head,
                   IoBuffer& response_in) noexcept;

  // A new exchange: its snapshot and the request's method (which frames the response).
  void begin(const Snapshot& snapshot, Method method) noexcept;
  // Takes a connection to the next endpoint of the walk (exchange.endpoint_base + endpoints_tried) or
  // opens one, then sends the head.
  void acquire();
  // Writes `n` request body bytes at `data` (which stay put until on_request_body_sent()), as they are
  // (the client framed them), or as one chunk when `as_chunk` (a client whose protocol frames the body
  // itself: HTTP/2 DATA), followed by `last_chunk` when not empty (the last chunk and its trailers).
  void send_body(const char* data, std::size_t n, bool as_chunk = false, std::string_view last_chunk = {});
  // The final head was taken: consumes it, arms the body deadline, returns the first body bytes.
  std::size_t take_first_body() noexcept;
  // Reads more of the body (after the owner wrote what it was given and emptied the buffer).
  void read_body();
  // An interim head was dealt with: parse what follows it.
  void next_response_head();
  // The exchange stops waiting on the upstream: the leg ends now (the record notes when); the connection
  // is closed.
  void give_up() noexcept;
  // The exchange ended: the connection goes back to the pool (`reusable`) or is closed.
  void release(bool reusable) noexcept;
  // The owner's upstream deadline passed.
  void on_deadline();

  // Upgraded connections: the owner relays bytes through the connection itself.
  const UpstreamConnectionPtr& connection() const noexcept { return upstream_; }
  // For an operation the owner starts on connection(): over TLS, counts it in flight (true).
  bool count_operation() noexcept;
  // The owner's handler of such an operation, on completion.
  void operation_done() noexcept;

  bool held() const noexcept { return upstream_ != nullptr; }
  State state() const noexcept { return state_; }
  const MessageHead& response() const noexcept { return response_; }
  // Strip chunked framing from the body handed to the owner (an HTTP/1.0 client); set at the final head.
  void set_decode_chunks(bool decode) noexcept { decode_chunks_ = decode; }
  bool read_done() const noexcept { return read_done_; }  // the response was read to its end
  bool broken() const noexcept { return broken_; }        // the upstream's body framing failed
  // A TLS operation on an upstream connection (ours or given up) may still touch the owner's buffers.
  bool operations_in_flight() const noexcept { return tls_operations_ != 0; }

 private:
  void connect();
  void on_connect(const ErrorCode& ec);
  void start_tls();
  void on_handshake(const ErrorCode& ec);
  // Connecting failed (counted as `error_type`): the next endpoint, or `error` once all were tried.
  void connect_failed(std::string_view error_type, ProxyError error);
  void count_connect_error(std::string_view error_type) noexcept;
  void send_head();
  void on_write_head(const ErrorCode& ec, std::size_t n);
  void on_write_body(const ErrorCode& ec, std::size_t n);
  bool retry_allowed() const noexcept;
  void retry();
  void read_head();
  void on_read_head(const ErrorCode& ec, std::size_t n);
  void parse_head();
  void on_read_body(const ErrorCode& ec, std::size_t n);
  std::size_t take_body(char* data, std::size_t available) noexcept;
  void mark_read() noexcept;

  Worker& worker_;
  UpstreamLegOwner& owner_;
  Exchange& exchange_;
  IoBuffer& head_out_;
  IoBuffer& in_;
  const Snapshot* snapshot_ = nullptr;
  Method method_ = Method::other;

  UpstreamConnectionPtr upstream_;
  State state_ = State::none;
  std::uint32_t generation_ = 0;  // bumped when a connection is let go: its late completions do nothing
  std::uint8_t tls_operations_ = 0;
  std::array<char, 20> chunk_size_line_{};  // "<hex>\r\n" of the chunk being written

  HeadParser parser_;
  MessageHead response_;
  ChunkedDecoder chunks_;
  std::uint64_t body_left_ = 0;  // content-length framing
  bool decode_chunks_ = false;
  bool read_done_ = false;
  bool broken_ = false;
};

}  // namespace apimeter
