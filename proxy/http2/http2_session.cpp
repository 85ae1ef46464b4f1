// The nghttp2 server session of one client connection: settings and limits, the decoder callbacks that
// feed the streams, and the read/write pumps over the connection's transport.
#include "proxy/http2/http2_session.hpp"

#include <algorithm>

#include "proxy/http2/http2_stream.hpp"
#include "proxy/worker.hpp"

namespace apimeter {
namespace {

Http2Session& session_of(void* self) {
  return *static_cast<Http2Session*>(self);
}

}  // namespace

Http2Session::Http2Session(Worker& worker, Http2SessionOwner& owner, Transport& transport,
                           SnapshotPtr snapshot, ClientPeer peer, std::string_view scheme,
                           std::string_view tls_version)
    : worker_(worker),
      owner_(owner),
      transport_(transport),
      snapshot_(std::move(snapshot)),
      peer_(peer),
      scheme_(scheme),
      tls_version_(tls_version),
      write_deadline_(worker.io().get_executor()),
      reset_budget_(defaults::kHttp2StreamResetBurst, defaults::kHttp2StreamResetRate) {}

Http2Session::~Http2Session() {
  if (session_ != nullptr) nghttp2_session_del(session_);
  worker_.buffers().release(in_);
  worker_.buffers().release(out_);
}

void Http2Session::start(IoBuffer in) {
  in_ = std::move(in);
  out_ = worker_.buffers().acquire();
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_option* option = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0 || nghttp2_option_new(&option) != 0) {
    if (callbacks) nghttp2_session_callbacks_del(callbacks);
    done_ = true;
    return owner_.on_session_done();
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);

  const Config& config = snapshot_->config;
  // A stream's window is given back only once its bytes went upstream (Http2Stream::on_request_body_sent).
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_max_send_header_block_length(option, 64 * 1024);
  nghttp2_option_set_max_outbound_ack(option, defaults::kHttp2MaxOutboundAck);
  nghttp2_option_set_max_settings(option, defaults::kHttp2MaxSettingsEntries);
  nghttp2_option_set_max_continuations(option, defaults::kHttp2MaxContinuations);
  nghttp2_option_set_stream_reset_rate_limit(option, defaults::kHttp2StreamResetBurst,
                                             defaults::kHttp2StreamResetRate);
  // Streams beyond the limit we advertise are refused by the library (REFUSED_STREAM).
  nghttp2_option_set_max_deflate_dynamic_table_size(option, 4096);
  const int made = nghttp2_session_server_new2(&session_, callbacks, this, option);
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_option_del(option);
  if (made != 0) {
    session_ = nullptr;
    done_ = true;
    return owner_.on_session_done();
  }
  // The stream window is the stream's body buffer, so DATA never outgrows it; the connection's allows
  // every stream a full window.
  const auto window = static_cast<std::uint32_t>(defaults::kHttp2StreamWindowBytes);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
       static_cast<std::uint32_t>(config.http2.max_concurrent_streams)},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<std::uint32_t>(config.limits.max_request_header_bytes)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  // The connection window bounds the request body buffered over all streams: a full window per stream up
  // to a few streams, not 100 of them (6.4 MB a connection).
  const std::uint64_t connection_window = std::min<std::uint64_t>(
      std::uint64_t{window} * std::max<std::size_t>(1, config.http2.max_concurrent_streams),
      defaults::kHttp2ConnectionWindowBytes);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<std::int32_t>(connection_window));
  streams_.reserve(std::min<std::size_t>(config.http2.max_concurrent_streams, 128));
  owner_.on_session_idle(true);
  if (!receive()) return flush();
  flush();
  do_read();
}

Http2Stream* Http2Session::stream(std::int32_t id) noexcept {
  return static_cast<Http2Stream*>(nghttp2_session_get_stream_user_data(session_, id));
}

// ---- Reading -----------------------------------------------------------------------------------------

void Http2Session::do_read() {
  if (done_ || reading_ || nghttp2_session_want_read(session_) == 0) return maybe_done();
  reading_ = true;
  in_.begin = in_.end = 0;
  transport_.async_read_some(asio::buffer(in_.write_ptr(), in_.space()),
                             [this, keep = owner_.hold_connection()](const ErrorCode& ec, std::size_t n) {
                               reading_ = false;
                               on_read(ec, n);
                             });
}

void Http2Session::on_read(const ErrorCode& ec, std::size_t n) {
  if (done_) return;
  if (ec) return close();  // the client closed or reset: open streams end as cut
  in_.end += n;
  if (!receive()) return flush();
  flush();
  do_read();
}

bool Http2Session::receive() noexcept {
  if (in_.size() == 0) return true;
  in_library_ = true;
  const ssize_t taken =
      nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(in_.read_ptr()), in_.size());
  in_library_ = false;
  in_.begin = in_.end = 0;
  // A connection error (a bad preface, a flood over a limit): the library queued GOAWAY; it goes out,
  // then the connection closes.
  return taken >= 0;
}

// ---- Writing -----------------------------------------------------------------------------------------

void Http2Session::flush() {
  if (done_ || in_library_ || writing_) return;
  // A stream that calls this may let go of the connection inside the library (on_stream_close): the
  // session must outlive the call.
  const std::shared_ptr<void> keep = owner_.hold_connection();
  out_.begin = out_.end = 0;
  in_library_ = true;
  if (!take_library_output(session_, out_, unsent_)) {
    in_library_ = false;
    return close();
  }
  in_library_ = false;
  if (out_.size() == 0) return maybe_done();
  writing_ = true;
  // A client that stops reading is bounded like one that stops sending: streams cannot even be reset
  // while the write is stuck, so the connection goes.
  write_deadline_.set(WriteDeadline::write, snapshot_->config.timeouts.client_body,
                      [this](Timer& timer) { arm_write_deadline(timer); });
  transport_.async_write(asio::buffer(out_.read_ptr(), out_.size()),
                         [this, keep = owner_.hold_connection()](const ErrorCode& ec, std::size_t n) {
                           writing_ = false;
                           write_deadline_.clear(WriteDeadline::write);
                           on_write(ec, n);
                         });
}

void Http2Session::arm_write_deadline(Timer& timer) noexcept {
  timer.async_wait([this, keep = owner_.hold_connection()](const ErrorCode& ec) {
    if (ec || done_) return;
    write_deadline_.fired(
        [this](WriteDeadline) {
          close();
          return false;
        },
        [this](Timer& t) { arm_write_deadline(t); });
  });
}

void Http2Session::on_write(const ErrorCode& ec, std::size_t) {
  if (done_) return;
  if (ec) return close();
  flush();
  if (!writing_) do_read();  // a read the library refused while output was pending may be wanted now
}

// ---- The end -----------------------------------------------------------------------------------------

void Http2Session::drain() noexcept {
  if (done_ || draining_) return;
  draining_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  flush();
  maybe_done();
}

void Http2Session::maybe_done() noexcept {
  if (done_ || writing_ || unsent_.length != 0) return;
  const bool library_done =
      nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
  if (!library_done && !(draining_ && streams_.empty())) return;
  done_ = true;
  write_deadline_.cancel();  // its wait holds the connection
  end_streams();
  owner_.on_session_done();
}

void Http2Session::close() noexcept {
  if (done_) return;
  done_ = true;
  write_deadline_.cancel();
  end_streams();
  owner_.on_session_done();
}

void Http2Session::end_streams() noexcept {
  // The connection ends under them: each exchange ends as cut (the client sees the connection go).
  std::vector<std::shared_ptr<Http2Stream>> open;
  open.swap(streams_);
  for (const auto& s : open) {
    nghttp2_session_set_stream_user_data(session_, s->id(), nullptr);
    s->on_closed(NGHTTP2_CANCEL);
  }
}

// ---- Decoder callbacks -------------------------------------------------------------------------------

int Http2Session::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  Http2Session& session = session_of(self);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (session.draining_) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // past our GOAWAY: refused
  auto stream = std::make_shared<Http2Stream>(session, frame->hd.stream_id);
  nghttp2_session_set_stream_user_data(session.session_, frame->hd.stream_id, stream.get());
  stream->start();
  if (session.streams_.empty()) session.owner_.on_session_idle(false);
  session.streams_.push_back(std::move(stream));
  return 0;
}

int Http2Session::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                            std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                            std::uint8_t, void* self) {
  Http2Stream* stream = session_of(self).stream(frame->hd.stream_id);
  if (stream == nullptr || frame->hd.type != NGHTTP2_HEADERS) return 0;
  const std::string_view n(reinterpret_cast<const char*>(name), name_length);
  const std::string_view v(reinterpret_cast<const char*>(value), value_length);
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
    stream->on_field(n, v);
  else
    stream->on_trailer(n, v);
  return 0;
}

int Http2Session::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  Http2Stream* stream = session_of(self).stream(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        stream->on_headers_end(end_stream);
      else if (end_stream)
        stream->on_request_end();  // trailers
      break;
    case NGHTTP2_DATA:
      if (end_stream) stream->on_request_end();
      break;
    default:
      break;
  }
  return 0;
}

int Http2Session::on_data_chunk_recv(nghttp2_session* library, std::uint8_t, std::int32_t stream_id,
                                     const std::uint8_t* data, std::size_t length, void* self) {
  Http2Stream* stream = session_of(self).stream(stream_id);
  // Data for a stream we are done with is dropped, and its room given back to the connection.
  if (stream == nullptr) {
    nghttp2_session_consume_connection(library, length);
    return 0;
  }
  stream->on_data(data, length);
  return 0;
}

int Http2Session::on_frame_send(nghttp2_session* library, const nghttp2_frame* frame, void* self) {
  Http2Session& session = session_of(self);
  if (frame->hd.type == NGHTTP2_RST_STREAM && !session.reset_budget_.take(Clock::now())) {
    // Streams we reset, whatever made us (a malformed request, a flow-control breach, a cut upstream), cost
    // the upstream nothing more than the client's own resets do: the same budget ("MadeYouReset",
    // CVE-2025-8671, which the library does not limit).
    nghttp2_session_terminate_session(library, NGHTTP2_ENHANCE_YOUR_CALM);
    return 0;
  }
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
  if (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) return 0;
  if (Http2Stream* stream = session.stream(frame->hd.stream_id)) stream->on_end_stream_sent();
  return 0;
}

int Http2Session::on_stream_close(nghttp2_session* library, std::int32_t stream_id, std::uint32_t error_code,
                                  void* self) {
  Http2Session& session = session_of(self);
  Http2Stream* raw = session.stream(stream_id);
  if (raw == nullptr) return 0;
  nghttp2_session_set_stream_user_data(library, stream_id, nullptr);
  auto it = std::find_if(session.streams_.begin(), session.streams_.end(),
                         [raw](const std::shared_ptr<Http2Stream>& s) { return s.get() == raw; });
  if (it == session.streams_.end()) return 0;
  std::shared_ptr<Http2Stream> stream = std::move(*it);
  *it = std::move(session.streams_.back());
  session.streams_.pop_back();
  stream->on_closed(error_code);
  if (session.streams_.empty()) session.owner_.on_session_idle(true);
  return 0;
}

}  // namespace apimeter
