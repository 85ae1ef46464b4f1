// The HTTP/2 codec of one client connection (h2 by ALPN on TLS listeners, h2c with prior knowledge on
// cleartext ones): an nghttp2 server session driven by the connection's own reads and writes
// (nghttp2_session_mem_recv / mem_send, no second event loop), its settings and limits, and its streams
// (http2_stream.hpp). It reads on while the library wants to, writes what the library has through one
// fixed buffer, answers a drain with GOAWAY and closes once the open streams are done. Worker thread only.
#pragma once

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/asio_types.hpp"
#include "proxy/buffer_pool.hpp"
#include "proxy/deadlines.hpp"
#include "proxy/exchange_steps.hpp"
#include "proxy/http2/library_output.hpp"
#include "proxy/snapshot.hpp"
#include "proxy/transport/transport.hpp"

namespace apimeter {

class Worker;
class Http2Stream;

// A token bucket: `burst` events, then `rate` per second.
class ResetBudget {
 public:
  ResetBudget(std::size_t burst, std::size_t rate) noexcept
      : burst_(static_cast<double>(burst)), rate_(static_cast<double>(rate)), tokens_(burst_) {}
  bool take(Clock::time_point now) noexcept {
    if (last_ != Clock::time_point{})
      tokens_ = std::min(burst_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  double burst_;
  double rate_;
  double tokens_;
  Clock::time_point last_{};
};

// Where the session reports back to the connection that owns it.
class Http2SessionOwner {
 public:
  virtual std::shared_ptr<void> hold_connection() noexcept = 0;
  // The session has no open stream (reclaimable, under the idle timeout), or has one again.
  virtual void on_session_idle(bool idle) noexcept = 0;
  // The session is over: the connection closes (FIN after what was written).
  virtual void on_session_done() noexcept = 0;
};

// The HTTP/2 connection preface a client sends first (RFC 9113 3.4).
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

class Http2Session {
 public:
  Http2Session(Worker& worker, Http2SessionOwner& owner, Transport& transport, SnapshotPtr snapshot,
               ClientPeer peer, std::string_view scheme, std::string_view tls_version);
  ~Http2Session();
  Http2Session(const Http2Session&) = delete;
  Http2Session& operator=(const Http2Session&) = delete;

  // Starts with the bytes the connection already read (`in` holds them; the session keeps the buffer).
  void start(IoBuffer in);
  // No new streams (GOAWAY with the last stream taken); the session ends once the open ones have.
  void drain() noexcept;
  // The connection ends now: open streams end as cut.
  void close() noexcept;

  // For the streams.
  Worker& worker() noexcept { return worker_; }
  nghttp2_session* library() noexcept { return session_; }
  const SnapshotPtr& snapshot() const noexcept { return snapshot_; }
  const ClientPeer& peer() const noexcept { return peer_; }
  std::string_view scheme() const noexcept { return scheme_; }
  std::string_view tls_version() const noexcept { return tls_version_; }
  std::shared_ptr<void> hold_connection() noexcept { return owner_.hold_connection(); }
  // Writes what the library has to send, unless the library is running (then it is sent on return).
  void flush();

 private:
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                       std::uint8_t flags, void* self);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id,
                                const std::uint8_t* data, std::size_t length, void* self);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* self);

  Http2Stream* stream(std::int32_t id) noexcept;
  void do_read();
  void on_read(const ErrorCode& ec, std::size_t n);
  // Feeds in_ to the library; false when the connection is in error (the library queued its GOAWAY).
  bool receive() noexcept;
  void on_write(const ErrorCode& ec, std::size_t n);
  void arm_write_deadline(Timer& timer) noexcept;
  void maybe_done() noexcept;
  void end_streams() noexcept;

  Worker& worker_;
  Http2SessionOwner& owner_;
  Transport& transport_;
  SnapshotPtr snapshot_;
  ClientPeer peer_;
  std::string_view scheme_;
  std::string_view tls_version_;
  nghttp2_session* session_ = nullptr;
  std::vector<std::shared_ptr<Http2Stream>> streams_;  // open ones, at most max concurrent streams
  IoBuffer in_;
  IoBuffer out_;
  enum class WriteDeadline : std::uint8_t { write, kCount };
  Deadlines<WriteDeadline> write_deadline_;  // a write the client does not take (timeouts.client_body)
  ResetBudget reset_budget_;  // RST_STREAM frames we send: burst, then per second
  LibraryOutput unsent_;      // a piece mem_send returned that did not fit out_
  bool in_library_ = false;  // inside mem_recv / mem_send: callbacks must not send
  bool reading_ = false;
  bool writing_ = false;
  bool draining_ = false;
  bool done_ = false;
};

}  // namespace apimeter
