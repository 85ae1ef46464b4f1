// One HTTP/2 stream on a client connection: the exchange it carries, from its HEADERS to its close. It
// builds the request head (request_head.hpp), runs the exchange's steps (exchange_steps.hpp) and owns an
// upstream leg (Http1UpstreamLeg) as an HTTP/1.1 connection does; the request body goes up as the DATA
// frames arrive, and the stream's window is given back only once their bytes were written upstream, so a
// slow upstream cannot grow memory; the response body is handed to the session's DATA frames as the leg
// reads it, and the leg reads on only once those bytes were taken. The exchange ends exactly once, when
// the session reports the stream closed. Worker thread only; no locks, no exceptions.
#pragma once

#include <nghttp2/nghttp2.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "common/asio_types.hpp"
#include "proxy/buffer_pool.hpp"
#include "proxy/deadlines.hpp"
#include "proxy/exchange.hpp"
#include "proxy/exchange_steps.hpp"
#include "proxy/http1/upstream_leg.hpp"
#include "proxy/http2/request_head.hpp"
#include "proxy/snapshot.hpp"

namespace apimeter {

class Http2Session;

class Http2Stream : public UpstreamLegOwner, public std::enable_shared_from_this<Http2Stream> {
 public:
  Http2Stream(Http2Session& session, std::int32_t id);
  ~Http2Stream();

  std::int32_t id() const noexcept { return id_; }
  void start() noexcept;  // once it is owned by a shared_ptr: arms the header deadline

  // From the session's decoder callbacks (inside the library: no sending from here).
  void on_field(std::string_view name, std::string_view value) noexcept;
  void on_headers_end(bool end_stream);
  void on_trailer(std::string_view name, std::string_view value) noexcept;
  void on_data(const std::uint8_t* data, std::size_t length);
  void on_request_end();
  void on_end_stream_sent() noexcept;
  // The stream is closed (both sides ended, a reset either way, or the connection ended): the exchange
  // ends here, once, and the stream lets go of the session.
  void on_closed(std::uint32_t error_code);
  // The response body for the session's DATA frames (nghttp2's data source read callback).
  ssize_t read_response_body(std::uint8_t* buffer, std::size_t length, std::uint32_t* flags) noexcept;

 private:
  enum class DeadlineKind : std::uint8_t { client, upstream, request, kCount };

  // UpstreamLegOwner.
  std::shared_ptr<void> hold() noexcept override { return shared_from_this(); }
  void compose_request_head(HeadWriter& writer) noexcept override;
  std::span<const char> replayable_body() const noexcept override { return {}; }
  bool request_replayable() const noexcept override { return request_ended_ && !body_started_; }
  void on_request_head_sent() override;
  void on_request_body_sent(const ErrorCode& ec) override;
  void on_response_begun() noexcept override {}
  void on_upstream_interim() override;
  void on_upstream_final() override;
  void on_upstream_body(std::size_t bytes) override;
  void on_upstream_failed(ProxyError error) override { fail(error); }
  void set_upstream_deadline(Duration timeout) noexcept override {
    set_deadline(DeadlineKind::upstream, timeout);
  }
  void clear_upstream_deadline() noexcept override { clear_deadline(DeadlineKind::upstream); }
  void on_upstream_operations_done() noexcept override;

  // The request body: the next buffered run upstream, once the head went and no write is in flight.
  void pump_body();
  // The response side: a local reply before any response went out, else a reset (the client sees the cut).
  void fail(ProxyError error);
  void reply(int status, std::string_view body, std::string_view allow = {});
  // Hands the response's next bytes (or its end) to the session, which sends when it can.
  void resume_response() noexcept;
  void reset(std::uint32_t error_code) noexcept;
  void release_buffers() noexcept;

  void set_deadline(DeadlineKind kind, Duration timeout) noexcept;
  void clear_deadline(DeadlineKind kind) noexcept { deadlines_.clear(kind); }
  void arm_timer(Timer& timer) noexcept;  // for deadlines_: the wait that calls on_timer()
  void on_timer(const ErrorCode& ec);
  bool on_deadline(DeadlineKind kind);  // false once the stream let go of the session

  Http2Session* session_;             // null once the stream let go of it
  std::shared_ptr<void> connection_;  // the client connection, held while the stream is open
  Worker& worker_;
  SnapshotPtr snapshot_;
  const std::int32_t id_;
  Deadlines<DeadlineKind> deadlines_;

  Exchange exchange_;
  Http2RequestHead head_builder_;
  MessageHead request_;
  // Buffers: the request head's storage (the record points into it), the upstream request head (then the
  // response fields' lowercase names), the request body in flight, and what the leg reads.
  IoBuffer head_storage_;
  IoBuffer head_out_;
  IoBuffer body_in_;
  IoBuffer upstream_in_;
  Http1UpstreamLeg leg_;

  ProxyError refused_ = ProxyError::none;  // the request head was malformed: answered once it is all in
  bool exchange_open_ = false;             // the head was read; complete_exchange() has not run
  bool request_ended_ = false;             // the client's END_STREAM arrived
  bool head_sent_ = false;                 // the leg wrote the head upstream
  bool chunked_ = false;                   // the body goes up chunked (no content-length)
  bool body_started_ = false;              // body bytes were written upstream: no replay
  bool body_writing_ = false;              // a body write is in flight
  bool last_chunk_sent_ = false;           // the request's end went upstream
  bool upload_refused_ = false;            // the upstream stopped reading the body: further DATA is dropped
  std::size_t body_in_flight_ = 0;         // DATA bytes of the write in flight (given back when it completes)
  bool response_deferred_ = false;  // the DATA source said "later": resume when bytes come
  bool end_stream_sent_ = false;
  int interim_responses_ = 0;
  std::size_t pending_body_ = 0;  // response body bytes at the front of upstream_in_, not yet taken
  std::string_view local_body_;   // a local reply's body, from the error table (static)
  // Request trailers, sent with the last chunk: "0\r\n" fields "\r\n", in the head's storage.
  std::size_t trailers_begin_ = 0;
  std::size_t trailers_end_ = 0;
};

}  // namespace apimeter
