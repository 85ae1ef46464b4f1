// One client connection for its whole life, on one worker: read a head, route it, relay the request to a
// pooled upstream connection, relay the response back, complete, then the next request. Kept alive by its
// own pending handlers; no locks, no exceptions, buffers from the worker's pool only while in an exchange.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "common/asio_types.hpp"
#include "common/request_record.hpp"
#include "metrics/extra_labels.hpp"
#include "metrics/metrics_settings.hpp"
#include "metrics/space_saving.hpp"
#include "metrics/user_identity.hpp"
#include "proxy/buffer_pool.hpp"
#include "proxy/exchange.hpp"
#include "proxy/http1/chunked_decoder.hpp"
#include "proxy/http1/header_rewriter.hpp"
#include "proxy/http1/http_head_parser.hpp"
#include "proxy/snapshot.hpp"
#include "proxy/transport/transport.hpp"
#include "proxy/upstream_pool.hpp"
#include "proxy/worker.hpp"
#include "tracing/trace_propagation.hpp"

namespace apimeter {

class DownstreamConnection : public std::enable_shared_from_this<DownstreamConnection>,
                             public ConnectionHook,
                             public IdleHook {
 public:
  DownstreamConnection(Worker& worker, Socket socket);
  ~DownstreamConnection();

  void start();
  // Worker is closing its listener: an idle connection closes now, a busy one after its response.
  void stop_if_idle();
  void force_close();

 private:
  enum class Phase : std::uint8_t { handshake, idle, reading_head, exchange, tunnel, lingering, closed };
  enum class UpstreamState : std::uint8_t { none, connecting, handshaking, sending, awaiting_head, body };
  enum class DeadlineKind : std::uint8_t { client, upstream, request, kCount };

  // 0: TLS listeners: the handshake, then the first request's wait.
  void do_handshake();
  void on_client_hello(const ErrorCode& ec);  // readable: the ClientHello (or an EOF) is there
  void on_handshake(const ErrorCode& ec);
  void wait_first_request(Duration timeout);
  Duration first_wait_timeout() noexcept;  // a new connection's first wait: handshake, then first request
  // 1-2: wait for and read a request head.
  void do_wait_request(Duration timeout);
  void on_wait_request(const ErrorCode& ec, std::size_t n);
  void begin_request();
  void parse_request_head();
  void do_read_head();
  void on_read_head(const ErrorCode& ec, std::size_t n);
  // 3-5: route and get an upstream connection.
  void on_request_head();
  void acquire_upstream();
  void connect_upstream();
  void on_connect(const ErrorCode& ec);
  void start_upstream_tls();  // upstream_tls: the TLS client handshake under the connect deadline
  void on_upstream_handshake(const ErrorCode& ec);
  // Connecting to the endpoint failed (counted as `error_type`): the next endpoint, or `error` once all
  // were tried.
  void upstream_connect_failed(std::string_view error_type, ProxyError error);
  void count_connect_error(std::string_view error_type) noexcept;  // the endpoint's and the metric's
  // 6: relay the request.
  void send_request_head();
  void on_write_request_head(const ErrorCode& ec, std::size_t n);
  std::size_t take_request_body(std::size_t available, ProxyError& error) noexcept;
  void do_read_request_body();
  void on_read_request_body(const ErrorCode& ec, std::size_t n);
  void on_write_request_body(const ErrorCode& ec, std::size_t n);
  // 7: relay the response.
  void do_read_response_head();
  void on_read_response_head(const ErrorCode& ec, std::size_t n);
  void parse_response_head();
  void on_interim_response();
  void on_write_interim(const ErrorCode& ec, std::size_t n);
  void on_final_response();
  std::size_t take_response_body(char* data, std::size_t available) noexcept;
  void send_response_part(std::size_t body_bytes);
  void on_write_response(const ErrorCode& ec, std::size_t n);
  void do_read_response_body();
  void on_read_response_body(const ErrorCode& ec, std::size_t n);
  // Upgraded connections: bytes both ways.
  void start_tunnel();
  void tunnel_read(bool from_client);
  void on_tunnel_read(bool from_client, const ErrorCode& ec, std::size_t n);
  void on_tunnel_write(bool from_client, const ErrorCode& ec, std::size_t n);
  void on_upstream_tunnel_read(const ErrorCode& ec, std::size_t n);
  void on_upstream_tunnel_write(const ErrorCode& ec, std::size_t n);
  // 8-9: complete and go on.
  void fail(ProxyError error);
  void answer_as_final_recipient();  // OPTIONS/TRACE with Max-Forwards: 0
  void prepare_local_reply();
  void send_local_reply(std::size_t head_bytes);  // head_out_ holds a whole reply of that many bytes
  void on_write_local_reply(const ErrorCode& ec, std::size_t n);
  void maybe_complete();
  // How an exchange ends, decided by whoever ends it; end_exchange() then does everything else once: the
  // complete step, whether the upstream connection goes back to the pool, and whether the client
  // connection takes the next request, lingers closed, or is closed now (FIN or RST).
  enum class Ending : std::uint8_t {
    response_done,  // the whole response went out: keep the connection if the exchange allows it
    close,          // end the connection with a FIN: the client sees the cut, or is gone
    reset,          // end it with a RST: a close-delimited body was cut, and a FIN would look like its end
  };
  void end_exchange(Ending ending);
  // How a connection cut mid-response must end: a reset when its body is close-delimited, else a FIN.
  Ending cut_ending() const noexcept;
  void complete();
  void next_request();
  void linger_close();
  void on_linger_read(const ErrorCode& ec, std::size_t n);
  void close();             // the connection ends; an exchange still open ends with it
  void close_connection();  // the socket, timer and buffers go; the exchange is already accounted for
  void abort_connection() noexcept;  // the next close_connection() sends RST instead of FIN
  void finish_tunnel();
  void consume_client(std::size_t n) noexcept;
  // Body bytes that came with the head stay in client_in_ while retry() may send the request again; once
  // it cannot (the body pump started, a response began, the exchange ended) their room is given back.
  void release_first_part() noexcept;
  void retry();

  // The header or idle timeout as the worker's load scales it; remembers whether it was shrunk.
  Duration client_wait_timeout(Duration configured, Duration floor) noexcept;
  void set_deadline(DeadlineKind kind, Duration timeout) noexcept;
  void clear_deadline(DeadlineKind kind) noexcept;
  void arm_timer() noexcept;
  void on_timer(const ErrorCode& ec);
  void on_deadline(DeadlineKind kind);

  // A client or upstream operation may still touch our buffers: they must not go back to the pool yet.
  bool buffers_in_use() const noexcept;
  // `buffer` back to the worker's pool, unless an operation may still touch it: then it stays with the
  // connection (and goes with it).
  void release_buffer(IoBuffer& buffer) noexcept;
  // For an upstream operation about to start: over TLS, counts it in flight (true); cleartext: false.
  bool count_upstream_operation() noexcept;
  void on_upstream_operations_done() noexcept;  // the last counted upstream operation completed

  bool retry_allowed() const noexcept;
  void release_upstream(bool reusable) noexcept;
  // The exchange stops waiting on its upstream (a failure, a cut): the upstream leg ends now.
  void give_up_upstream() noexcept;
  // The upstream response was read to its end: upstream_done, and the upstream deadline goes.
  void mark_response_read() noexcept;

  Worker& worker_;
  Transport transport_;
  Timer timer_;
  SnapshotPtr snapshot_;
  Phase phase_ = Phase::idle;
  UpstreamState upstream_state_ = UpstreamState::none;
  bool in_request_ = false;  // a request began and is not yet accounted for by complete()
  std::uint32_t generation_ = 0;  // bumped per exchange; handlers of an earlier one do nothing
  Exchange exchange_;             // the current request's exchange, reset when one begins

  // Buffers: the client's bytes (head, body, pipelined requests), the head we write (upstream request
  // head until the response head arrives, then the client response head) and the upstream's bytes.
  IoBuffer client_in_;
  IoBuffer head_out_;
  IoBuffer upstream_in_;
  std::array<char, 512> idle_read_{};  // first bytes of the next request, read while no buffer is held

  HeadParser request_parser_;
  HeadParser response_parser_;
  MessageHead request_;
  MessageHead response_;
  ChunkedDecoder request_chunks_;
  ChunkedDecoder response_chunks_;

  UpstreamConnectionPtr upstream_;  // the upstream connection the exchange holds
  std::uint8_t upstream_tls_operations_ =
      0;  // TLS operations in flight on upstream connections, ours or given up

  // Request body relay state.
  std::uint64_t request_body_left_ = 0;  // content-length framing
  bool request_body_done_ = true;
  bool request_pump_active_ = false;     // a client read or upstream write of the body is pending
  std::size_t request_part_ = 0;         // bytes of client_in_ being written upstream
  std::size_t first_part_ = 0;           // body bytes sent with the head
  bool first_part_pending_ = false;      // first_part_ still in client_in_ (kept for a retry)
  std::size_t head_end_ = 0;             // client_in_ offset where the request head ends
  // Response relay state.
  std::uint64_t response_body_left_ = 0;
  ClientBodyFraming client_framing_ = ClientBodyFraming::none;
  bool response_read_ = false;     // the upstream response was read to its end (maybe not yet sent)
  bool response_broken_ = false;   // the upstream's body framing failed mid-relay
  bool head_pending_ = false;      // the client response head still has to go out with the next part
  bool dechunk_ = false;           // HTTP/1.0 client and chunked upstream: strip the framing
  bool upgrade_requested_ = false;
  // Tunnel state: per direction, finished reading (EOF seen and shutdown sent).
  bool tunnel_done_[2] = {false, false};

  // The client header or idle deadline was shrunk under load; the wait is a new connection's first one.
  bool client_timeout_shrunk_ = false;
  bool awaiting_first_request_ = true;
  // Deadlines: the timer is armed for the earliest; moving a deadline later costs nothing.
  std::array<Clock::time_point, static_cast<std::size_t>(DeadlineKind::kCount)> deadlines_{};
  Clock::time_point timer_expiry_ = Clock::time_point::max();

  // Measurement inputs taken from the head (into the exchange).
  void identify_request() noexcept;
  void begin_trace() noexcept;

  char client_address_[48] = {};
  std::uint16_t client_port_ = 0;
  // TLS: when the connection was accepted (handshake duration), and the client certificate's subject.
  Clock::time_point accepted_{};
  metrics::TlsVersionLabel tls_version_ = metrics::TlsVersionLabel::other;  // of the session, once made
  char peer_subject_[256] = {};
  std::size_t peer_subject_length_ = 0;
};

}  // namespace apimeter
