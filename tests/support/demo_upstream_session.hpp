// One HTTP/1.x connection of the demo upstream: reads requests strictly one after another (so pipelined
// requests are answered in order), routes each to the demo API (shop, CRM or MES), its fault control or a test control endpoint, and streams
// bodies through one fixed buffer. It must not block its worker thread, hold a whole body, or throw.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tests/support/demo_upstream_http_date.hpp"
#include "tests/support/demo_upstream_api.hpp"
#include "tests/support/demo_upstream_fault.hpp"

namespace apimeter::demo {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
 public:
  // Everything but the socket belongs to the worker and outlives every session on it; `prng` draws the
  // injected faults.
  Session(tcp::socket socket, Api& api, FaultInjector& faults, Prng& prng, HttpDate& date);

  // Starts reading the first request; from then on the session is kept alive by its own pending handlers.
  // Worker thread only.
  void run();

 private:
  enum class Endpoint : std::uint8_t {
    root,
    api,
    fault,
    status,
    delay,
    bytes,
    echo,
    sink,
    headers,
    close_mid_body,
    reset,
    rst,
    malformed,
    hang,
    slow_head,
    websocket,
    expect_continue,
    not_found
  };
  // How a streamed response body is delimited.
  enum class Framing : std::uint8_t { content_length, chunked, until_close };

  // Request head and body.
  void do_read_head();
  void on_read_head(beast::error_code ec, std::size_t bytes);
  void route();
  void do_write_continue();
  void on_write_continue(beast::error_code ec, std::size_t bytes);
  void start_exchange();
  void do_read_body();
  void on_read_body(beast::error_code ec, std::size_t bytes);
  void respond();

  // Small responses held whole in res_.
  http::response<http::string_body>& start_reply(unsigned status, std::string_view content_type);
  void reply_text(unsigned status, std::string body);
  void reply_status();
  void reply_received();
  void reply_headers();
  void reply_api();
  void reply_fault();
  void do_write();
  void on_write(beast::error_code ec, std::size_t bytes);
  void do_write_root();
  void do_write_raw(std::string_view bytes);
  void do_write_interim();
  void on_write_interim(beast::error_code ec, std::size_t bytes);

  // Waits on timer_.
  void do_delay();
  void on_delay(beast::error_code ec);
  void do_api_wait();
  void on_api_wait(beast::error_code ec);
  void do_write_status_line();
  void on_write_status_line(beast::error_code ec, std::size_t bytes);
  void on_slow_head_wait(beast::error_code ec);

  // Streamed responses: a head from head_, then pieces framed by framing_.
  void start_echo();
  void start_bytes();
  void start_close_mid_body();
  void do_write_head();
  void on_write_head(beast::error_code ec, std::size_t bytes);
  void do_next_piece();
  void do_write_piece(char const* data, std::size_t size);
  void on_write_piece(beast::error_code ec, std::size_t bytes);
  void on_piece_wait(beast::error_code ec);
  void do_write_last();
  void on_write_last(beast::error_code ec, std::size_t bytes);
  void finish_response();

  // Connection endings.
  void start_websocket();
  void do_hang();
  void on_hang(beast::error_code ec, std::size_t bytes);
  void do_close();
  void do_linger();
  void on_linger(beast::error_code ec, std::size_t bytes);
  void on_linger_timeout(beast::error_code ec);
  void close_now();
  void reset_now();

  tcp::socket socket_;
  net::steady_timer timer_;  // one wait at a time: latency, piece delay, slow head or lingering close
  Api& api_;
  FaultInjector& faults_;
  Prng& fault_prng_;
  HttpDate& date_;
  // Lives as long as the connection: after one request it may already hold the next pipelined one.
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::buffer_body>> parser_;  // re-emplaced for every request
  std::unique_ptr<char[]> body_buf_;  // request body pieces; allocated on the first body, kept after
  std::array<char, 1024> scratch_;    // discarded bytes while hanging or lingering

  // The current exchange; reset by do_read_head().
  Endpoint endpoint_ = Endpoint::not_found;
  http::verb method_ = http::verb::unknown;
  unsigned version_ = 11;
  bool keep_alive_ = false;        // false: close after this response
  bool response_started_ = false;  // a byte of the response may be on the wire; errors can only close
  std::uint64_t param_ = 0;        // the number in /status/{code}, /bytes/{n}, /delay/{ms}, ...
  std::string_view path_;          // views into parser_'s message
  std::string_view query_;
  std::string_view malformed_;    // the bytes /malformed/{kind} sends (static storage)
  std::size_t head_fields_ = 0;   // fields in the request head; the parser appends trailers after them
  std::uint64_t body_bytes_ = 0;  // request body bytes read so far
  ApiReply api_reply_;
  std::string captured_body_;  // the first Api::kMaxCapturedBody bytes, for APIs that read bodies

  // The response being written.
  std::optional<http::response<http::string_body>> res_;
  std::optional<http::response<http::empty_body>> head_;
  std::optional<http::response_serializer<http::empty_body>> head_sr_;
  std::string raw_;  // hand-framed bytes: interim responses, slow head, last chunk with trailers
  std::size_t raw_sent_ = 0;
  std::array<char, HttpDate::kLength> date_copy_;
  Framing framing_ = Framing::content_length;
  std::uint64_t remaining_ = 0;  // body bytes still to generate
  std::size_t piece_bytes_ = 0;  // size of the piece being written
  std::uint32_t checksum_ = 0;   // sum of generated body bytes mod 2^32
  bool trailer_ = false;         // end the chunked body with an X-Checksum trailer
  std::chrono::milliseconds piece_delay_{0};
  std::array<char, 20> chunk_size_;  // "<hex>\r\n" of the piece being written
};

}  // namespace apimeter::demo
