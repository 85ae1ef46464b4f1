// One HTTP/2 stream's exchange (http2_stream.hpp): request head, body pump with flow control, the
// response handed to DATA frames, local replies and resets, and the one ending in on_closed().
#include "proxy/http2/http2_stream.hpp"

#include <algorithm>
#include <cstring>

#include "proxy/http2/http2_session.hpp"
#include "proxy/router.hpp"
#include "proxy/worker.hpp"

namespace apimeter {
namespace {

ssize_t read_body_callback(nghttp2_session*, std::int32_t, std::uint8_t* buffer, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void*) {
  return static_cast<Http2Stream*>(source->ptr)->read_response_body(buffer, length, flags);
}

nghttp2_nv field(std::string_view name, std::string_view value) noexcept {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// ":status" with its three digits, written into `text` (which the field points at).
nghttp2_nv status_field(int status, char (&text)[3]) noexcept {
  text[0] = static_cast<char>('0' + status / 100 % 10);
  text[1] = static_cast<char>('0' + status / 10 % 10);
  text[2] = static_cast<char>('0' + status % 10);
  return field(":status", std::string_view(text, 3));
}

constexpr std::size_t kMaxResponseFields = 128;
constexpr int kMaxInterimResponses = 8;  // 1xx heads relayed per exchange

}  // namespace

Http2Stream::Http2Stream(Http2Session& session, std::int32_t id)
    : session_(&session),
      connection_(session.hold_connection()),
      worker_(session.worker()),
      snapshot_(session.worker().snapshot()),  // a reload reaches the next stream, as the next request
      id_(id),
      deadlines_(session.worker().io().get_executor()),
      leg_(session.worker(), *this, exchange_, head_out_, upstream_in_) {
  head_storage_ = worker_.buffers().acquire();
  head_builder_.begin(head_storage_.data(), head_storage_.capacity());
  request_.fields.reserve(snapshot_->request_limits.max_fields);
  RequestRecord& record = exchange_.record;
  record.head_started = Clock::now();
  record.wall_start = std::chrono::system_clock::now();
  record.version = HttpVersion::http2;
  record.client_address = session.peer().address;
  record.listen_port = worker_.listen_port();
  if (session.scheme() == "https") {
    record.scheme = "https";
    record.tls_protocol_version = session.tls_version();
  }
  worker_.request_started();
  exchange_open_ = true;
}

void Http2Stream::start() noexcept {
  // The header block (HEADERS and its CONTINUATIONs) arrives under the header timeout.
  set_deadline(DeadlineKind::client, snapshot_->config.timeouts.client_header);
}

Http2Stream::~Http2Stream() {
  release_buffers();
}

// ---- The request --------------------------------------------------------------------------------------

void Http2Stream::on_field(std::string_view name, std::string_view value) noexcept {
  exchange_.record.received_bytes += name.size() + value.size();
  if (refused_ != ProxyError::none) return;
  ProxyError error = ProxyError::none;
  if (!head_builder_.add(name, value, error)) refused_ = error;
}

void Http2Stream::on_headers_end(bool end_stream) {
  request_ended_ = end_stream;
  clear_deadline(DeadlineKind::client);
  ProxyError error = refused_;
  if (error == ProxyError::none)
    head_builder_.finish(!end_stream, snapshot_->request_limits, request_, error);
  if (error != ProxyError::none) return fail(error);
  trailers_begin_ = trailers_end_ = head_builder_.used();
  begin_exchange(worker_, *snapshot_, request_, session_->peer(), exchange_);
  const Config& config = snapshot_->config;
  chunked_ = request_.framing == BodyFraming::chunked;
  if (config.limits.max_request_body_bytes != 0 && request_.framing == BodyFraming::content_length &&
      request_.content_length > config.limits.max_request_body_bytes)
    return fail(ProxyError::body_too_large);
  if (request_.max_forwards == 0) {
    // RFC 9110 7.6.2: no hops left, answered here. OPTIONS gets what apimeter allows; a TRACE echo of an
    // HTTP/2 request has no HTTP/1.1 head to echo, so it is refused.
    if (request_.method_id == Method::options)
      return reply(200, {}, "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS");
    return fail(ProxyError::method_not_supported);
  }
  if (!exchange_.route && config.unmatched_routes == UnmatchedRoutes::reject)
    return fail(ProxyError::no_route);
  if (!end_stream) set_deadline(DeadlineKind::client, config.timeouts.client_body);
  set_deadline(DeadlineKind::request,
               exchange_.route ? exchange_.route->request_timeout : config.timeouts.request);
  exchange_.endpoint_base = worker_.next_round_robin();
  leg_.begin(*snapshot_, request_.method_id);
  leg_.acquire();
}

void Http2Stream::compose_request_head(HeadWriter& writer) noexcept {
  write_exchange_request_head(*snapshot_, request_, exchange_, session_->peer(), false, writer);
}

void Http2Stream::on_trailer(std::string_view name, std::string_view value) noexcept {
  exchange_.record.received_bytes += name.size() + value.size();
  // Trailers travel with the last chunk; a body framed by its length has no room for them (dropped, as
  // an HTTP/1.1 proxy drops them), and pseudo-headers or malformed fields are not trailers.
  if (!chunked_ || name.empty() || name.front() == ':' || !is_token(name) || !is_valid_field_value(value))
    return;
  if (name == "content-length" || name == "transfer-encoding" || name == "host") return;
  const std::size_t need = name.size() + value.size() + 4 + (trailers_end_ == trailers_begin_ ? 3 : 0) + 2;
  if (trailers_end_ + need > head_storage_.capacity()) return;
  char* at = head_storage_.data() + trailers_end_;
  if (trailers_end_ == trailers_begin_) at = std::copy_n("0\r\n", 3, at);
  at = std::copy(name.begin(), name.end(), at);
  at = std::copy_n(": ", 2, at);
  at = std::copy(value.begin(), value.end(), at);
  at = std::copy_n("\r\n", 2, at);
  trailers_end_ = static_cast<std::size_t>(at - head_storage_.data());
}

void Http2Stream::on_data(const std::uint8_t* data, std::size_t length) {
  RequestRecord& record = exchange_.record;
  record.received_bytes += length;
  nghttp2_session* library = session_->library();
  // Nothing will take these bytes (no exchange, an answered request, an upstream that stopped reading):
  // their room is given back at once.
  if (upload_refused_ || !leg_.held() || request_ended_) {
    nghttp2_session_consume(library, id_, length);
    return;
  }
  if (!body_in_) body_in_ = worker_.stream_body_buffers().acquire();  // on the first DATA, not before
  record.request_body_bytes += length;
  const std::uint64_t limit = snapshot_->config.limits.max_request_body_bytes;
  if (limit != 0 && record.request_body_bytes > limit) {
    nghttp2_session_consume(library, id_, length);
    return fail(ProxyError::body_too_large);
  }
  // The buffer holds one stream window; a client that overruns its window is stopped by the library
  // (FLOW_CONTROL_ERROR) before this is reached, so this cannot drop bytes of a valid exchange.
  // In flight or not, the bytes in the buffer are at most one window; the run in flight starts at the
  // front, so compacting is only needed (and only safe) when no write is in flight.
  if (length > body_in_.space() && !body_writing_) body_in_.compact();
  if (length > body_in_.space()) {
    nghttp2_session_consume(library, id_, length);
    return fail(ProxyError::body_too_large);
  }
  std::memcpy(body_in_.write_ptr(), data, length);
  body_in_.end += length;
  set_deadline(DeadlineKind::client, snapshot_->config.timeouts.client_body);
  pump_body();
}

void Http2Stream::on_request_end() {
  request_ended_ = true;
  clear_deadline(DeadlineKind::client);
  pump_body();
}

void Http2Stream::on_request_head_sent() {
  head_sent_ = true;
  pump_body();
}

void Http2Stream::pump_body() {
  if (!head_sent_ || body_writing_ || last_chunk_sent_ || upload_refused_ || !leg_.held()) return;
  if (body_in_ && body_in_.size() == 0 && !request_ended_) return;
  if (!body_in_ && !request_ended_) return;
  // The run in flight starts at the front: what arrives meanwhile lands behind it (see on_data).
  if (body_in_) body_in_.compact();
  body_in_flight_ = body_in_ ? body_in_.size() : 0;
  const bool last = request_ended_;
  std::string_view last_chunk;
  if (last && chunked_)
    last_chunk = trailers_end_ != trailers_begin_ ? std::string_view(head_storage_.data() + trailers_begin_,
                                                                     trailers_end_ - trailers_begin_)
                                                  : std::string_view("0\r\n");
  if (last && chunked_) {
    if (trailers_end_ == trailers_begin_) {
      last_chunk = "0\r\n\r\n";
    } else {
      // The trailer section ends with an empty line (on_trailer kept room for it).
      std::memcpy(head_storage_.data() + trailers_end_, "\r\n", 2);
      last_chunk = std::string_view(last_chunk.data(), last_chunk.size() + 2);
    }
  }
  if (body_in_flight_ == 0 && last_chunk.empty()) {
    last_chunk_sent_ = last;
    return;
  }
  body_writing_ = true;
  body_started_ = true;  // even a last chunk alone: a replay would not send it again
  last_chunk_sent_ = last;
  leg_.send_body(body_in_ ? body_in_.read_ptr() : nullptr, body_in_flight_, chunked_, last_chunk);
}

void Http2Stream::on_request_body_sent(const ErrorCode& ec) {
  body_writing_ = false;
  if (session_ == nullptr) return;
  nghttp2_session_consume(session_->library(), id_, body_in_flight_);
  if (ec) {
    // The upstream stopped reading (it may have answered early): further DATA is dropped, and the
    // upstream connection is out of step.
    upload_refused_ = true;
    exchange_.upstream_reusable = false;
  }
  if (body_in_) body_in_.begin += body_in_flight_;  // given back above, whatever became of them
  body_in_flight_ = 0;
  pump_body();
  session_->flush();
}

// ---- The response -------------------------------------------------------------------------------------

void Http2Stream::on_upstream_interim() {
  const MessageHead& response = leg_.response();
  if (response.status == 101) return fail(ProxyError::upstream_bad_response);  // no upgrade in HTTP/2
  // An upstream that streams 1xx heads to a client that does not read would queue them without end.
  if (++interim_responses_ > kMaxInterimResponses) return fail(ProxyError::upstream_bad_response);
  char text[3];
  const nghttp2_nv nva[] = {status_field(response.status, text)};
  nghttp2_submit_headers(session_->library(), NGHTTP2_FLAG_NONE, id_, nullptr, nva, 1, nullptr);
  session_->flush();
  if (session_ != nullptr && leg_.held()) leg_.next_response_head();
}

void Http2Stream::on_upstream_final() {
  const MessageHead& response = leg_.response();
  RequestRecord& record = exchange_.record;
  record.status = response.status;
  record.upstream_status = response.status;
  leg_.set_decode_chunks(true);  // HTTP/2 frames the body itself

  // Names go out lowercase (RFC 9113 8.2.1): lowered into the head buffer, which the request head no
  // longer needs (no replay once a response began). The library copies names and values.
  if (!head_out_) head_out_ = worker_.buffers().acquire();
  char* names = head_out_.data();
  std::size_t used = 0;
  std::array<nghttp2_nv, kMaxResponseFields> nva;
  std::size_t count = 0;
  char status[3];
  nva[count++] = status_field(response.status, status);
  for (const HeaderField& f : response.fields) {
    // RFC 9113 8.2.2: what only means something on one HTTP/1.1 connection is not sent in HTTP/2.
    if (is_hop_by_hop(f, response)) continue;
    if (f.id == FieldId::content_length && response.framing != BodyFraming::content_length &&
        response.framing != BodyFraming::none)
      continue;
    if (count == nva.size() || used + f.name.size() > head_out_.capacity())
      return fail(ProxyError::upstream_bad_response);
    for (std::size_t i = 0; i < f.name.size(); ++i) names[used + i] = ascii_lower(f.name[i]);
    nva[count++] = field(std::string_view(names + used, f.name.size()), f.value);
    used += f.name.size();
  }
  const bool has_body = response.framing != BodyFraming::none;
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = read_body_callback;
  for (std::size_t i = 0; i < count; ++i) record.sent_bytes += nva[i].namelen + nva[i].valuelen;
  if (nghttp2_submit_response(session_->library(), id_, nva.data(), count, has_body ? &provider : nullptr) !=
      0)
    return fail(ProxyError::upstream_bad_response);
  exchange_.response_started = true;
  // A client that takes nothing of the body (a shut window) is bounded like one that stops reading.
  if (has_body) set_deadline(DeadlineKind::client, snapshot_->config.timeouts.client_body);
  pending_body_ = leg_.take_first_body();
  if (has_body && pending_body_ == 0 && !leg_.read_done() && !leg_.broken()) {
    upstream_in_.begin = upstream_in_.end = 0;
    leg_.read_body();
  }
  session_->flush();
}

void Http2Stream::on_upstream_body(std::size_t bytes) {
  pending_body_ = bytes;
  // The client has the client body timeout to take them (its window may be shut).
  if (bytes != 0) set_deadline(DeadlineKind::client, snapshot_->config.timeouts.client_body);
  if (bytes == 0 && !leg_.read_done() && !leg_.broken()) {
    upstream_in_.begin = upstream_in_.end = 0;
    return leg_.read_body();
  }
  resume_response();
}

void Http2Stream::resume_response() noexcept {
  if (session_ == nullptr) return;
  if (response_deferred_) {
    response_deferred_ = false;
    nghttp2_session_resume_data(session_->library(), id_);
  }
  session_->flush();
}

ssize_t Http2Stream::read_response_body(std::uint8_t* buffer, std::size_t length,
                                        std::uint32_t* flags) noexcept {
  if (!local_body_.empty()) {
    const std::size_t n = std::min(length, local_body_.size());
    std::memcpy(buffer, local_body_.data(), n);
    local_body_.remove_prefix(n);
    exchange_.record.sent_bytes += n;
    if (local_body_.empty()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  if (pending_body_ > 0) {
    const std::size_t n = std::min(length, pending_body_);
    std::memcpy(buffer, upstream_in_.read_ptr(), n);
    upstream_in_.begin += n;
    pending_body_ -= n;
    exchange_.record.sent_bytes += n;
    if (pending_body_ == 0) {
      if (request_ended_) clear_deadline(DeadlineKind::client);
      if (leg_.read_done()) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      } else if (!leg_.broken() && leg_.held()) {
        // Every byte read was taken: the leg reads on (a slow client stops this, so memory stays bounded).
        upstream_in_.begin = upstream_in_.end = 0;
        leg_.read_body();
      }
    }
    return static_cast<ssize_t>(n);
  }
  if (leg_.broken()) {
    exchange_.record.error_type = error_info(ProxyError::upstream_bad_response).type;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // the stream is reset: the cut is visible
  }
  if (leg_.read_done() || !leg_.held()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  response_deferred_ = true;
  return NGHTTP2_ERR_DEFERRED;
}

void Http2Stream::on_end_stream_sent() noexcept {
  end_stream_sent_ = true;
  exchange_.response_done = true;
  if (request_ended_) clear_deadline(DeadlineKind::client);
  // A complete response while the client is still sending: its upload is stopped (RFC 9113 8.1).
  if (!request_ended_ && session_ != nullptr)
    nghttp2_submit_rst_stream(session_->library(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_NO_ERROR);
}

// ---- Failures and the end ------------------------------------------------------------------------------

void Http2Stream::fail(ProxyError error) {
  if (session_ == nullptr) return;
  RequestRecord& record = exchange_.record;
  if (record.error_type.empty()) record.error_type = error_info(error).type;
  leg_.give_up();
  const ErrorInfo& info = error_info(error);
  if (exchange_.response_started || info.status == 0) return reset(NGHTTP2_INTERNAL_ERROR);
  reply(info.status, info.body);
}

void Http2Stream::reply(int status, std::string_view body, std::string_view allow) {
  RequestRecord& record = exchange_.record;
  record.status = status;
  clear_deadline(DeadlineKind::upstream);
  clear_deadline(DeadlineKind::request);
  char text[3];
  std::array<nghttp2_nv, 3> nva{status_field(status, text)};
  std::size_t count = 1;
  if (!body.empty()) nva[count++] = field("content-type", "text/plain; charset=utf-8");
  if (!allow.empty()) nva[count++] = field("allow", allow);
  local_body_ = body;
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = read_body_callback;
  exchange_.response_started = true;
  nghttp2_submit_response(session_->library(), id_, nva.data(), count, body.empty() ? nullptr : &provider);
  if (!body.empty()) set_deadline(DeadlineKind::client, snapshot_->config.timeouts.client_body);
  session_->flush();
}

void Http2Stream::reset(std::uint32_t error_code) noexcept {
  if (session_ == nullptr) return;
  nghttp2_submit_rst_stream(session_->library(), NGHTTP2_FLAG_NONE, id_, error_code);
  session_->flush();
}

void Http2Stream::on_closed([[maybe_unused]] std::uint32_t error_code) {
  if (session_ == nullptr) return;
  RequestRecord& record = exchange_.record;
  if (!end_stream_sent_) {
    // Closed before our response ended: the client reset it, or the connection ended.
    if (record.error_type.empty()) record.error_type = error_info(ProxyError::client_closed).type;
  }
  const bool in_step = last_chunk_sent_ && !body_writing_ && !upload_refused_;
  if (end_stream_sent_ && exchange_.upstream_reusable && in_step && leg_.read_done()) {
    leg_.release(true);
  } else {
    leg_.give_up();
  }
  // Request bytes that will never go upstream still count against the connection's window: given back.
  if (body_in_ && body_in_.size() != 0)
    nghttp2_session_consume_connection(session_->library(), body_in_.size());
  deadlines_.cancel();
  deadlines_.clear_all();
  if (exchange_open_) {
    exchange_open_ = false;
    if (record.head_read == Clock::time_point{}) record.head_read = Clock::now();
    complete_exchange(worker_, exchange_);
  }
  session_ = nullptr;
  release_buffers();
  connection_.reset();
}

void Http2Stream::on_upstream_operations_done() noexcept {
  if (session_ == nullptr) release_buffers();
}

void Http2Stream::release_buffers() noexcept {
  // A TLS operation on a given-up upstream connection may still touch them: they go with the stream.
  if (leg_.operations_in_flight()) return;
  worker_.buffers().release(head_storage_);
  worker_.buffers().release(head_out_);
  worker_.stream_body_buffers().release(body_in_);
  worker_.buffers().release(upstream_in_);
}

// ---- Deadlines ---------------------------------------------------------------------------------------

void Http2Stream::set_deadline(DeadlineKind kind, Duration timeout) noexcept {
  deadlines_.set(kind, timeout, [this](Timer& timer) { arm_timer(timer); });
}

void Http2Stream::arm_timer(Timer& timer) noexcept {
  timer.async_wait([self = shared_from_this()](const ErrorCode& ec) { self->on_timer(ec); });
}

void Http2Stream::on_timer(const ErrorCode& ec) {
  if (ec == asio::error::operation_aborted || session_ == nullptr) return;
  deadlines_.fired([this](DeadlineKind kind) { return on_deadline(kind); },
                   [this](Timer& timer) { arm_timer(timer); });
}

bool Http2Stream::on_deadline(DeadlineKind kind) {
  switch (kind) {
    case DeadlineKind::client:
      // The head not all in yet, a stalled upload, or a response the client does not take.
      fail(exchange_.record.head_read == Clock::time_point{} ? ProxyError::client_header_timeout
                                                             : ProxyError::client_body_timeout);
      break;
    case DeadlineKind::upstream:
      leg_.on_deadline();
      break;
    case DeadlineKind::request:
      fail(ProxyError::request_timeout);
      break;
    case DeadlineKind::kCount:
      break;
  }
  return session_ != nullptr;
}

}  // namespace apimeter
