// The upstream leg's state machine (README, "the life of one request", steps 5-7 on the upstream side).
// Every completion handler holds the owner and the connection it ran on, and captures the leg's
// generation (bumped when a connection is let go), so a late completion never acts on the next one.
#include "proxy/http1/upstream_leg.hpp"

#include <array>
#include <cstring>

#include "proxy/connect_error.hpp"
#include "proxy/router.hpp"
#include "proxy/snapshot.hpp"
#include "proxy/tls/handshake_outcome.hpp"
#include "proxy/tls/tls_client_context.hpp"
#include "proxy/upstream_tls_setup.hpp"
#include "proxy/worker.hpp"

namespace apimeter {
namespace {

bool is_idempotent(Method m) noexcept {
  switch (m) {
    case Method::get:
    case Method::head:
    case Method::options:
    case Method::trace:
    case Method::put:
    case Method::delete_:
      return true;
    default:
      return false;
  }
}

}  // namespace

// An operation on the upstream connection, which the handler also holds: a connection given up on must
// outlive the operations still queued on it, since they run in its socket, its TLS stream and its
// transport's counters. Over TLS the operation also counts itself in flight until it completes: a
// cancelled TLS read may still decrypt into the owner's buffer, so buffers stay with the owner until then.
#define APIMETER_LEG_HANDLER(method)                                                                  \
  [this, owner = owner_.hold(), ex = generation_, upstream = upstream_, counted = count_operation()]( \
      const ErrorCode& ec, std::size_t n) {                                                           \
    if (counted) operation_done();                                                                    \
    if (ex != generation_) return;                                                                    \
    method(ec, n);                                                                                    \
  }

Http1UpstreamLeg::Http1UpstreamLeg(Worker& worker, UpstreamLegOwner& owner, Exchange& exchange,
                                   IoBuffer& request_head, IoBuffer& response_in) noexcept
    : worker_(worker), owner_(owner), exchange_(exchange), head_out_(request_head), in_(response_in) {}

void Http1UpstreamLeg::begin(const Snapshot& snapshot, Method method) noexcept {
  snapshot_ = &snapshot;
  method_ = method;
  state_ = State::none;
  parser_.reset();
  decode_chunks_ = read_done_ = broken_ = false;
}

bool Http1UpstreamLeg::count_operation() noexcept {
  if (!upstream_->transport.secure()) return false;
  ++tls_operations_;
  return true;
}

void Http1UpstreamLeg::operation_done() noexcept {
  if (--tls_operations_ == 0) owner_.on_upstream_operations_done();
}

// ---- 5. Take or open a connection -------------------------------------------------------------------

void Http1UpstreamLeg::acquire() {
  RequestRecord& record = exchange_.record;
  if (record.upstream_started == Clock::time_point{}) record.upstream_started = Clock::now();
  const auto& endpoints = snapshot_->endpoints;
  exchange_.endpoint = &endpoints[(exchange_.endpoint_base + exchange_.endpoints_tried) % endpoints.size()];
  record.upstream_address = exchange_.endpoint->name;
  exchange_.endpoint->stats->attempt(worker_.index());
  upstream_ = worker_.upstreams().take(exchange_.endpoint->address);
  if (upstream_) {
    worker_.upstream_acquired();
    record.upstream_reused = true;
    record.upstream_connected = Clock::now();
    return send_head();
  }
  connect();
}

void Http1UpstreamLeg::connect() {
  exchange_.record.upstream_reused = false;
  upstream_ = std::make_shared<UpstreamConnection>(worker_.io());
  worker_.upstream_acquired();
  upstream_->endpoint = exchange_.endpoint->address;
  upstream_->tls_context = snapshot_->upstream_tls ? snapshot_->upstream_tls->id : 0;
  exchange_.endpoint->stats->connect(worker_.index());
  state_ = State::connecting;
  owner_.set_upstream_deadline(snapshot_->config.timeouts.upstream_connect);
  upstream_->transport.socket().async_connect(
      exchange_.endpoint->address,
      [this, owner = owner_.hold(), ex = generation_, upstream = upstream_](const ErrorCode& ec) {
        if (ex == generation_) on_connect(ec);
      });
}

void Http1UpstreamLeg::on_connect(const ErrorCode& ec) {
  if (ec) return connect_failed(connect_error_type(ec), ProxyError::upstream_refused);
  ErrorCode ignored;
  upstream_->transport.socket().set_option(tcp::no_delay(true), ignored);
  if (snapshot_->upstream_tls) return start_tls();
  exchange_.record.upstream_connected = Clock::now();
  send_head();
}

void Http1UpstreamLeg::start_tls() {
  if (!prepare_upstream_tls(worker_, *snapshot_->upstream_tls, *upstream_, exchange_.endpoint->tls_peer_name))
    return on_handshake(make_error_code(asio::error::no_memory));
  // The connect deadline covers the handshake too: the connection is not usable before it is done. The
  // handshake touches none of the owner's buffers, so it holds the connection without counting itself.
  state_ = State::handshaking;
  upstream_->transport.async_handshake(
      asio::ssl::stream_base::client,
      [this, owner = owner_.hold(), ex = generation_, upstream = upstream_](const ErrorCode& ec) {
        if (ex == generation_) on_handshake(ec);
      });
}

void Http1UpstreamLeg::on_handshake(const ErrorCode& ec) {
  UpstreamTlsFailure failure;
  if (!finish_upstream_tls(worker_, *upstream_, ec, failure))
    return connect_failed(failure.error_type, failure.certificate ? ProxyError::upstream_tls_certificate
                                                                  : ProxyError::upstream_tls_handshake);
  exchange_.record.upstream_connected = Clock::now();
  send_head();
}

void Http1UpstreamLeg::count_connect_error(std::string_view error_type) noexcept {
  exchange_.endpoint->stats->connect_error(worker_.index());
  if (worker_.metrics_enabled()) worker_.metrics().upstream_connect_error(error_type);
}

void Http1UpstreamLeg::connect_failed(std::string_view error_type, ProxyError error) {
  count_connect_error(error_type);
  release(false);
  // Nothing was sent, so another endpoint may be tried whatever the method.
  if (++exchange_.endpoints_tried < snapshot_->endpoints.size()) return acquire();
  owner_.on_upstream_failed(error);
}

// ---- 6. Send the request ----------------------------------------------------------------------------

void Http1UpstreamLeg::send_head() {
  if (!head_out_) head_out_ = worker_.buffers().acquire();
  HeadWriter writer(head_out_.data(), head_out_.capacity());
  owner_.compose_request_head(writer);
  if (writer.overflowed()) return owner_.on_upstream_failed(ProxyError::header_section_too_large);
  head_out_.begin = 0;
  head_out_.end = writer.size();

  state_ = State::sending;
  const Duration response_timeout = exchange_.route ? exchange_.route->upstream_response_timeout
                                                    : snapshot_->config.timeouts.upstream_response;
  owner_.set_upstream_deadline(response_timeout);
  // Over TLS each buffer becomes its own record: body bytes that came with the head and fit behind it are
  // copied there, so a small request goes out as one record (a replay writes the head afresh).
  std::span<const char> first_part = owner_.replayable_body();
  if (upstream_->transport.secure() && !first_part.empty() && first_part.size() <= head_out_.space()) {
    std::memcpy(head_out_.write_ptr(), first_part.data(), first_part.size());
    head_out_.end += first_part.size();
    first_part = {};
  }
  std::array<asio::const_buffer, 2> buffers{asio::buffer(head_out_.read_ptr(), head_out_.size()),
                                            asio::buffer(first_part.data(), first_part.size())};
  upstream_->transport.async_write(buffers, APIMETER_LEG_HANDLER(on_write_head));
}

void Http1UpstreamLeg::on_write_head(const ErrorCode& ec, std::size_t) {
  if (ec) {
    if (retry_allowed()) return retry();
    return owner_.on_upstream_failed(ProxyError::upstream_reset);
  }
  state_ = State::awaiting_head;
  owner_.on_request_head_sent();
  if (held()) read_head();
}

void Http1UpstreamLeg::send_body(const char* data, std::size_t n, bool as_chunk,
                                 std::string_view last_chunk) {
  if (!as_chunk)  // the client's own framing: the HTTP/1.1 path
    return upstream_->transport.async_write(asio::buffer(data, n), APIMETER_LEG_HANDLER(on_write_body));
  std::size_t size_length = 0;
  if (n != 0) {
    static constexpr char kHex[] = "0123456789abcdef";
    char digits[16];
    std::size_t count = 0;
    for (std::size_t v = n; v != 0; v >>= 4) digits[count++] = kHex[v & 0xf];
    while (count != 0) chunk_size_line_[size_length++] = digits[--count];
    chunk_size_line_[size_length++] = '\r';
    chunk_size_line_[size_length++] = '\n';
  }
  const std::string_view chunk_end = n != 0 ? std::string_view("\r\n") : std::string_view();
  upstream_->transport.async_write(
      std::array<asio::const_buffer, 4>{asio::buffer(chunk_size_line_.data(), size_length),
                                        asio::buffer(data, n), asio::buffer(chunk_end),
                                        asio::buffer(last_chunk)},
      APIMETER_LEG_HANDLER(on_write_body));
}

void Http1UpstreamLeg::on_write_body(const ErrorCode& ec, std::size_t) {
  owner_.on_request_body_sent(ec);
}

bool Http1UpstreamLeg::retry_allowed() const noexcept {
  // Only a reused connection can be stale, only once, only when the whole request can be sent again and
  // the method says sending it twice is harmless, and only before any response byte arrived.
  const RequestRecord& record = exchange_.record;
  return record.upstream_reused && !record.upstream_retried && owner_.request_replayable() &&
         is_idempotent(method_) && in_.size() == 0 && record.upstream_first_byte == Clock::time_point{};
}

void Http1UpstreamLeg::retry() {
  exchange_.record.upstream_retried = true;
  release(false);
  connect();
}

// ---- 7. Read the response ---------------------------------------------------------------------------

void Http1UpstreamLeg::read_head() {
  if (!in_) in_ = worker_.buffers().acquire();
  if (in_.space() == 0) in_.compact();
  if (in_.space() == 0) return owner_.on_upstream_failed(ProxyError::upstream_bad_response);
  upstream_->transport.async_read_some(asio::buffer(in_.write_ptr(), in_.space()),
                                       APIMETER_LEG_HANDLER(on_read_head));
}

void Http1UpstreamLeg::on_read_head(const ErrorCode& ec, std::size_t n) {
  RequestRecord& record = exchange_.record;
  if (ec) {
    const bool nothing_received = in_.size() == 0 && record.upstream_first_byte == Clock::time_point{};
    // TLS 1.3: the upstream judges our client certificate after our side of the handshake has finished,
    // so its refusal (an alert) arrives in place of the first response of a new connection.
    if (nothing_received && !record.upstream_reused && upstream_->transport.secure() &&
        ec.category() == asio::error::get_ssl_category()) {
      worker_.upstream_tls_sessions().forget(upstream_->endpoint);
      count_connect_error(classify_upstream_tls_failure(ec, X509_V_OK).error_type);
      return owner_.on_upstream_failed(ProxyError::upstream_tls_handshake);
    }
    if (nothing_received && is_peer_gone(ec) && retry_allowed()) return retry();
    return owner_.on_upstream_failed(nothing_received ? ProxyError::upstream_reset
                                                      : ProxyError::upstream_bad_response);
  }
  if (record.upstream_first_byte == Clock::time_point{}) {
    record.upstream_first_byte = Clock::now();
    owner_.on_response_begun();
  }
  in_.end += n;
  parse_head();
}

void Http1UpstreamLeg::parse_head() {
  ProxyError error = ProxyError::none;
  const ParseStatus status = parser_.parse_response({in_.read_ptr(), in_.size()}, snapshot_->response_limits,
                                                    method_, response_, error);
  if (status == ParseStatus::error) return owner_.on_upstream_failed(ProxyError::upstream_bad_response);
  if (status == ParseStatus::incomplete) return read_head();
  if (response_.status < 200) return owner_.on_upstream_interim();
  exchange_.upstream_reusable = response_.keep_alive;
  body_left_ = 0;
  switch (response_.framing) {
    case BodyFraming::content_length:
      body_left_ = response_.content_length;
      break;
    case BodyFraming::chunked:
      chunks_.reset();
      break;
    case BodyFraming::until_close:
      exchange_.upstream_reusable = false;
      break;
    case BodyFraming::none:
      break;
  }
  owner_.on_upstream_final();
}

void Http1UpstreamLeg::next_response_head() {
  in_.consume(response_.head_bytes);
  parser_.reset();
  if (in_.size() > 0) return parse_head();
  read_head();
}

std::size_t Http1UpstreamLeg::take_first_body() noexcept {
  state_ = State::body;
  in_.begin += response_.head_bytes;
  const std::size_t body = take_body(in_.read_ptr(), in_.size());
  if (!read_done_) owner_.set_upstream_deadline(snapshot_->config.timeouts.upstream_body);
  return body;
}

std::size_t Http1UpstreamLeg::take_body(char* data, std::size_t available) noexcept {
  RequestRecord& record = exchange_.record;
  std::size_t out = 0;
  std::size_t consumed = 0;
  bool done = false;
  switch (response_.framing) {
    case BodyFraming::none:
      done = true;
      break;
    case BodyFraming::content_length:
      out = consumed = static_cast<std::size_t>(std::min<std::uint64_t>(body_left_, available));
      body_left_ -= out;
      record.response_body_bytes += out;
      done = body_left_ == 0;
      break;
    case BodyFraming::chunked:
      if (decode_chunks_) {
        // Data runs are moved to the front in place; each run starts at or after the write cursor.
        consumed = chunks_.feed({data, available}, [&](std::string_view run) {
          std::memmove(data + out, run.data(), run.size());
          out += run.size();
        });
      } else {
        consumed = out = chunks_.feed({data, available}, [](std::string_view) {});
      }
      record.response_body_bytes = chunks_.data_bytes();
      broken_ = chunks_.failed();
      done = chunks_.done();
      break;
    case BodyFraming::until_close:
      out = consumed = available;
      record.response_body_bytes += out;
      break;
  }
  if (done) {
    // Bytes after the end of the response: the upstream is out of step, never reuse it.
    if (consumed < available) exchange_.upstream_reusable = false;
    mark_read();
  }
  return out;
}

void Http1UpstreamLeg::mark_read() noexcept {
  if (read_done_) return;
  read_done_ = true;
  exchange_.record.upstream_done = Clock::now();
  // The upstream is done with; what is left is the client's to read (under the client's deadline).
  owner_.clear_upstream_deadline();
}

void Http1UpstreamLeg::read_body() {
  owner_.set_upstream_deadline(snapshot_->config.timeouts.upstream_body);
  upstream_->transport.async_read_some(asio::buffer(in_.write_ptr(), in_.space()),
                                       APIMETER_LEG_HANDLER(on_read_body));
}

void Http1UpstreamLeg::on_read_body(const ErrorCode& ec, std::size_t n) {
  if (ec) {
    if (ec == asio::error::eof && response_.framing == BodyFraming::until_close) {
      // Reads follow completed writes, so everything read before the end is already sent.
      exchange_.upstream_reusable = false;
      mark_read();
      return owner_.on_upstream_body(0);
    }
    // The body broke off: the owner ends the client side so the truncation is visible.
    return owner_.on_upstream_failed(ProxyError::upstream_closed_mid_body);
  }
  in_.end += n;
  owner_.on_upstream_body(take_body(in_.read_ptr(), in_.size()));
}

// ---- The end of the leg -----------------------------------------------------------------------------

void Http1UpstreamLeg::give_up() noexcept {
  RequestRecord& r = exchange_.record;
  // The upstream leg ends here, not with the reply or the cut that follows.
  if (r.upstream_leg().happened() && r.upstream_done == Clock::time_point{} &&
      r.upstream_given_up == Clock::time_point{})
    r.upstream_given_up = Clock::now();
  release(false);
}

void Http1UpstreamLeg::release(bool reusable) noexcept {
  if (!upstream_) return;
  ++generation_;
  worker_.upstream_released();
  if (reusable) {
    worker_.upstreams().put(std::move(upstream_));
  } else {
    ErrorCode ignored;
    upstream_->transport.socket().close(ignored);
  }
  upstream_.reset();
  state_ = State::none;
}

void Http1UpstreamLeg::on_deadline() {
  switch (state_) {
    case State::connecting:
    case State::handshaking:
      count_connect_error(state_ == State::connecting ? "timeout" : "tls_timeout");
      return owner_.on_upstream_failed(ProxyError::upstream_connect_timeout);
    case State::sending:
    case State::awaiting_head:
      return owner_.on_upstream_failed(ProxyError::upstream_response_timeout);
    case State::body:
      return owner_.on_upstream_failed(ProxyError::upstream_body_timeout);
    case State::none:
      return;
  }
}

}  // namespace apimeter
