// One HTTP/1.1 client connection for its whole life, on one worker: read a head, route it, hand the
// exchange's upstream side to its leg (Http1UpstreamLeg), relay the request body to it and the response it
// reads back to the client, complete, then the next request. Kept alive by its own pending handlers; no
// locks, no exceptions, buffers from the worker's pool only while in an exchange.
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
#include "proxy/deadlines.hpp"
#include "proxy/exchange.hpp"
#include "proxy/exchange_steps.hpp"
#include "proxy/http1/chunked_decoder.hpp"
#include "proxy/http1/header_rewriter.hpp"
#include "proxy/http1/http_head_parser.hpp"
#include "proxy/http1/upstream_leg.hpp"
#include "proxy/http2/http2_session.hpp"
#include "proxy/snapshot.hpp"
#include "proxy/transport/transport.hpp"
#include "proxy/upstream_pool.hpp"
#include "proxy/worker.hpp"
#include "tracing/trace_propagation.hpp"

namespace apimeter {

class DownstreamConnection : public std::enable_shared_from_this<DownstreamConnection>,
                             public ConnectionHook,
                             public IdleHook,
                             private UpstreamLegOwner,
                             private Http2SessionOwner {
 public:
  DownstreamConnection(Worker& worker, Socket socket);
  ~DownstreamConnection();

  void start();
  // Worker is closing its listener: an idle connection closes now, a busy one after its response.
  void stop_if_idle();
  void force_close();

 private:
  enum class Phase : std::uint8_t {
    handshake,
    idle,
    reading_head,
    exchange,
    tunnel,
    http2,
    lingering,
    closed
  };
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
  // 3-5: route, then the upstream leg takes or opens an upstream connection.
  void on_request_head();
  // 6: relay the request (the leg writes what this side composes and reads).
  std::size_t take_request_body(std::size_t available, ProxyError& error) noexcept;
  void do_read_request_body();
  void on_read_request_body(const ErrorCode& ec, std::size_t n);
  // 7: relay the response.
  void send_response_part(std::size_t body_bytes);
  void on_write_interim(const ErrorCode& ec, std::size_t n);
  void on_write_response(const ErrorCode& ec, std::size_t n);
  // UpstreamLegOwner: the leg's calls into this side of the exchange.
  std::shared_ptr<void> hold() noexcept override { return shared_from_this(); }
  void compose_request_head(HeadWriter& writer) noexcept override;
  std::span<const char> replayable_body() const noexcept override;
  bool request_replayable() const noexcept override;
  void on_request_head_sent() override;
  void on_request_body_sent(const ErrorCode& ec) override;
  void on_response_begun() noexcept override { release_first_part(); }
  void on_upstream_interim() override;
  void on_upstream_final() override;
  void on_upstream_body(std::size_t bytes) override { send_response_part(bytes); }
  void on_upstream_failed(ProxyError error) override { fail(error); }
  void set_upstream_deadline(Duration timeout) noexcept override {
    set_deadline(DeadlineKind::upstream, timeout);
  }
  void clear_upstream_deadline() noexcept override { clear_deadline(DeadlineKind::upstream); }
  void on_upstream_operations_done() noexcept override;
  // HTTP/2 (h2 by ALPN, h2c by its preface): the session takes the connection over from here.
  void start_http2();
  std::shared_ptr<void> hold_connection() noexcept override { return shared_from_this(); }
  void on_session_idle(bool idle) noexcept override;
  void on_session_done() noexcept override;
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
  // Body bytes that came with the head stay in client_in_ while the leg may replay the request; once
  // it cannot (the body pump started, a response began, the exchange ended) their room is given back.
  void release_first_part() noexcept;

  // The header or idle timeout as the worker's load scales it; remembers whether it was shrunk.
  Duration client_wait_timeout(Duration configured, Duration floor) noexcept;
  void set_deadline(DeadlineKind kind, Duration timeout) noexcept;
  void clear_deadline(DeadlineKind kind) noexcept;
  void arm_timer(Timer& timer) noexcept;  // for deadlines_: the wait that calls on_timer()
  void on_timer(const ErrorCode& ec);
  void on_deadline(DeadlineKind kind);

  // A client or upstream operation may still touch our buffers: they must not go back to the pool yet.
  bool buffers_in_use() const noexcept;
  // `buffer` back to the worker's pool, unless an operation may still touch it: then it stays with the
  // connection (and goes with it).
  void release_buffer(IoBuffer& buffer) noexcept;

  Worker& worker_;
  Transport transport_;
  SnapshotPtr snapshot_;
  Phase phase_ = Phase::idle;
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
  MessageHead request_;
  ChunkedDecoder request_chunks_;

  Http1UpstreamLeg leg_;  // the exchange's upstream side
  std::unique_ptr<Http2Session> http2_;  // the HTTP/2 codec, once the connection speaks it
  bool fresh_ = true;                    // no request was read yet: an HTTP/2 preface may come

  // Request body relay state.
  std::uint64_t request_body_left_ = 0;  // content-length framing
  bool request_body_done_ = true;
  bool request_pump_active_ = false;     // a client read or upstream write of the body is pending
  std::size_t request_part_ = 0;         // bytes of client_in_ being written upstream
  std::size_t first_part_ = 0;           // body bytes sent with the head
  bool first_part_pending_ = false;      // first_part_ still in client_in_ (kept for a retry)
  std::size_t head_end_ = 0;             // client_in_ offset where the request head ends
  // Response relay state.
  ClientBodyFraming client_framing_ = ClientBodyFraming::none;
  bool head_pending_ = false;  // the client response head still has to go out with the next part
  bool upgrade_requested_ = false;
  // Tunnel state: per direction, finished reading (EOF seen and shutdown sent).
  bool tunnel_done_[2] = {false, false};

  // The client header or idle deadline was shrunk under load; the wait is a new connection's first one.
  bool client_timeout_shrunk_ = false;
  bool awaiting_first_request_ = true;
  Deadlines<DeadlineKind> deadlines_;

  ClientPeer client_peer() const noexcept {
    return {client_address_, std::string_view(peer_subject_, peer_subject_length_)};
  }

  char client_address_[48] = {};
  std::uint16_t client_port_ = 0;
  // TLS: when the connection was accepted (handshake duration), and the client certificate's subject.
  Clock::time_point accepted_{};
  metrics::TlsVersionLabel tls_version_ = metrics::TlsVersionLabel::other;  // of the session, once made
  char peer_subject_[256] = {};
  std::size_t peer_subject_length_ = 0;
};

}  // namespace apimeter
