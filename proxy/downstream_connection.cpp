// The request state machine (README, "the life of one request"). Every completion handler captures the
// connection's generation (bumped when an exchange ends) and returns at once when it has moved on, so a
// late completion (a cancelled read, a write racing a timeout) never acts twice.
#include "proxy/downstream_connection.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <arpa/inet.h>

#include <cstring>

#include "common/tls_client.hpp"
#include "proxy/exchange_steps.hpp"
#include "proxy/router.hpp"
#include "proxy/tls/handshake_outcome.hpp"
#include "proxy/tls/tls_server_context.hpp"

namespace apimeter {
namespace {

constexpr Duration kLingerTimeout = std::chrono::seconds(2);

}  // namespace

// Completion-handler wrapper: keeps the connection alive and drops completions of an earlier exchange.
#define APIMETER_HANDLER(method)                                                   \
  [self = shared_from_this(), ex = generation_](const ErrorCode& ec, std::size_t n) { \
    if (ex != self->generation_) return;                                             \
    self->method(ec, n);                                                           \
  }

// The same for an operation this side starts on the upstream connection (an upgraded one's relay), which
// the handler also holds: see APIMETER_LEG_HANDLER.
#define APIMETER_UPSTREAM_HANDLER(method)                                     \
  [self = shared_from_this(), ex = generation_, upstream = leg_.connection(), \
   counted = leg_.count_operation()](const ErrorCode& ec, std::size_t n) {    \
    if (counted) self->leg_.operation_done();                                 \
    if (ex != self->generation_) return;                                      \
    self->method(ec, n);                                                      \
  }

DownstreamConnection::DownstreamConnection(Worker& worker, Socket socket)
    : worker_(worker),
      transport_(std::move(socket)),
      snapshot_(worker.snapshot()),
      leg_(worker, *this, exchange_, head_out_, upstream_in_),
      deadlines_(worker.io().get_executor()) {
  ErrorCode ec;
  auto remote = transport_.socket().remote_endpoint(ec);
  if (!ec) {
    // inet_ntop into the fixed field: no allocation and no exception per connection.
    const auto& address = remote.address();
    if (address.is_v4()) {
      auto bytes = address.to_v4().to_bytes();
      ::inet_ntop(AF_INET, bytes.data(), client_address_, sizeof client_address_);
    } else {
      auto bytes = address.to_v6().to_bytes();
      ::inet_ntop(AF_INET6, bytes.data(), client_address_, sizeof client_address_);
    }
    client_port_ = remote.port();
  }
}

DownstreamConnection::~DownstreamConnection() = default;

void DownstreamConnection::start() {
  ErrorCode ignored;
  transport_.socket().set_option(tcp::no_delay(true), ignored);
  if (snapshot_->tls) return do_handshake();
  wait_first_request(first_wait_timeout());
}

Duration DownstreamConnection::first_wait_timeout() noexcept {
  // A connection that has sent nothing yet is under the header timeout, not the keep-alive one: silent
  // connections must not hold a slot for a minute each. With no header timeout (0 disables it) the first
  // wait is an idle one.
  const Timeouts& t = snapshot_->config.timeouts;
  return t.client_header.count() != 0 ? client_wait_timeout(t.client_header, t.client_header_floor)
                                      : client_wait_timeout(t.client_idle, t.client_idle_floor);
}

void DownstreamConnection::wait_first_request(Duration timeout) {
  // Without a header timeout the first wait is counted as an idle one.
  awaiting_first_request_ = snapshot_->config.timeouts.client_header.count() != 0;
  do_wait_request(timeout);
}

// ---- 0. TLS handshake (TLS listeners) ---------------------------------------------------------------

void DownstreamConnection::do_handshake() {
  phase_ = Phase::handshake;
  accepted_ = Clock::now();
  // A handshake is a new connection's first wait: under the header timeout (shrunk under load), and
  // reclaimable at the connection cap like a silent connection.
  worker_.connection_idle(*this);
  set_deadline(DeadlineKind::client, first_wait_timeout());
  // The TLS session (Asio's two 17 KiB record buffers and OpenSSL's state) is made once the ClientHello
  // arrives, so a silent connection costs what a cleartext one does.
  transport_.socket().async_wait(tcp::socket::wait_read,
                                 [self = shared_from_this(), ex = generation_](const ErrorCode& ec) {
                                   if (ex == self->generation_) self->on_client_hello(ec);
                                 });
}

void DownstreamConnection::on_client_hello(const ErrorCode& ec) {
  if (ec) {
    worker_.metrics().tls_handshake_failed(classify_handshake_failure(ec, X509_V_OK));
    return close_connection();
  }
  transport_.start_tls(snapshot_->tls->context);
  transport_.async_handshake(asio::ssl::stream_base::server, [self = shared_from_this(), ex = generation_](const ErrorCode& ec) {
    if (ex == self->generation_) self->on_handshake(ec);
  });
}

void DownstreamConnection::on_handshake(const ErrorCode& ec) {
  SSL* session = transport_.tls_session();
  if (ec) {
    worker_.metrics().tls_handshake_failed(classify_handshake_failure(ec, SSL_get_verify_result(session)));
    return close_connection();
  }
  tls_version_ = tls_version_label(SSL_version(session));
  worker_.metrics().tls_handshake_succeeded(
      tls_version_, SSL_session_reused(session) == 1,
      static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - accepted_).count()));
  if (X509* certificate = SSL_get0_peer_certificate(session))
    peer_subject_length_ = certificate_subject(certificate, peer_subject_, sizeof peer_subject_);
  Worker::connection_busy(*this);
  const unsigned char* protocol = nullptr;
  unsigned int protocol_length = 0;
  SSL_get0_alpn_selected(session, &protocol, &protocol_length);
  if (protocol_length == 2 && protocol[0] == 'h' && protocol[1] == '2') {
    client_in_ = worker_.buffers().acquire();
    return start_http2();
  }
  // The handshake and the wait for the first request share one budget: the first wait's.
  const Clock::time_point deadline = deadlines_.at(DeadlineKind::client);
  const Duration left = deadline == Clock::time_point::max()
                            ? Duration(0)  // no timeout
                            : std::max(Duration(1), std::chrono::ceil<Duration>(deadline - Clock::now()));
  wait_first_request(left);
}

void DownstreamConnection::stop_if_idle() {
  if (phase_ == Phase::http2) return http2_->drain();  // GOAWAY; closes once its streams are done
  if (phase_ == Phase::idle || phase_ == Phase::handshake) close();
}

void DownstreamConnection::force_close() { close(); }

// ---- 1-2. Wait for a request and read its head ----------------------------------------------------

void DownstreamConnection::do_wait_request(Duration timeout) {
  phase_ = Phase::idle;
  worker_.connection_idle(*this);  // reclaimable at the connection cap while it waits
  set_deadline(DeadlineKind::client, timeout);
  // A small inline buffer: an idle keep-alive connection holds no pooled buffer.
  transport_.async_read_some(asio::buffer(idle_read_), APIMETER_HANDLER(on_wait_request));
}

void DownstreamConnection::on_wait_request(const ErrorCode& ec, std::size_t n) {
  if (ec) return close();  // the client closed an idle connection: nothing to account for
  Worker::connection_busy(*this);
  client_in_ = worker_.buffers().acquire();
  std::memcpy(client_in_.data(), idle_read_.data(), n);
  client_in_.begin = 0;
  client_in_.end = n;
  // Prior knowledge (RFC 9113 3.3): a cleartext connection that opens with the HTTP/2 preface speaks it.
  if (fresh_ && !transport_.secure() && n >= 3 &&
      kHttp2Preface.substr(0, std::min(n, kHttp2Preface.size())) ==
          std::string_view(idle_read_.data(), std::min(n, kHttp2Preface.size())))
    return start_http2();
  begin_request();
  parse_request_head();
}

// ---- HTTP/2 -------------------------------------------------------------------------------------------

void DownstreamConnection::start_http2() {
  phase_ = Phase::http2;
  clear_deadline(DeadlineKind::client);
  const std::string_view tls_version =
      transport_.secure() ? metrics::kTlsVersionLabelValues[static_cast<std::size_t>(tls_version_)]
                          : std::string_view();
  Http2SessionOwner& owner = *this;
  http2_ = std::make_unique<Http2Session>(worker_, owner, transport_, snapshot_, client_peer(),
                                          transport_.secure() ? "https" : "http", tls_version);
  http2_->start(std::move(client_in_));
}

void DownstreamConnection::on_session_idle(bool idle) noexcept {
  if (phase_ != Phase::http2) return;
  if (!idle) {
    awaiting_first_request_ = false;
    Worker::connection_busy(*this);
    return clear_deadline(DeadlineKind::client);
  }
  // No open stream: reclaimable at the connection cap, and under the idle timeout (a GOAWAY then); before
  // its first stream, under the first wait's (the header timeout), as a new HTTP/1.1 connection is.
  worker_.connection_idle(*this);
  const Timeouts& t = snapshot_->config.timeouts;
  set_deadline(DeadlineKind::client, awaiting_first_request_
                                         ? first_wait_timeout()
                                         : client_wait_timeout(t.client_idle, t.client_idle_floor));
}

void DownstreamConnection::on_session_done() noexcept {
  if (phase_ != Phase::http2) return;  // close() is ending it
  // The client went while a write was pending: no TLS shutdown may start beside it, and nobody reads it.
  if (transport_.write_pending()) return close_connection();
  // The session ended itself (GOAWAY sent, or the client's went): a FIN after what was written.
  linger_close();
}

void DownstreamConnection::begin_request() {
  fresh_ = false;
  if (snapshot_ != worker_.snapshot()) snapshot_ = worker_.snapshot();
  phase_ = Phase::reading_head;
  exchange_ = Exchange{};
  RequestRecord& record = exchange_.record;
  record.head_started = Clock::now();
  record.wall_start = std::chrono::system_clock::now();
  record.client_address = client_address_;
  record.client_port = client_port_;
  record.listen_port = worker_.listen_port();
  if (transport_.secure()) {
    record.scheme = "https";
    record.tls_protocol_version = metrics::kTlsVersionLabelValues[static_cast<std::size_t>(tls_version_)];
  }
  // The HTTP/1.1 codec's per-request state.
  request_body_done_ = true;
  request_pump_active_ = false;
  first_part_ = 0;
  first_part_pending_ = false;
  head_pending_ = false;
  client_framing_ = ClientBodyFraming::none;
  upgrade_requested_ = false;
  tunnel_done_[0] = tunnel_done_[1] = false;
  request_parser_.reset();
  in_request_ = true;
  worker_.request_started();
  const Timeouts& t = snapshot_->config.timeouts;
  set_deadline(DeadlineKind::client, client_wait_timeout(t.client_header, t.client_header_floor));
}

Duration DownstreamConnection::client_wait_timeout(Duration configured, Duration floor) noexcept {
  const Duration scaled = worker_.client_timeout(configured, floor);
  client_timeout_shrunk_ = scaled < configured;
  return scaled;
}

void DownstreamConnection::parse_request_head() {
  ProxyError error = ProxyError::none;
  ParseStatus status = request_parser_.parse_request({client_in_.read_ptr(), client_in_.size()},
                                                     snapshot_->request_limits, request_, error);
  if (status == ParseStatus::complete) return on_request_head();
  if (status == ParseStatus::error) {
    exchange_.record.received_bytes = client_in_.size();
    return fail(error);
  }
  if (client_in_.space() == 0) client_in_.compact();
  if (client_in_.space() == 0) return fail(ProxyError::header_section_too_large);
  do_read_head();
}

void DownstreamConnection::do_read_head() {
  transport_.async_read_some(asio::buffer(client_in_.write_ptr(), client_in_.space()),
                             APIMETER_HANDLER(on_read_head));
}

void DownstreamConnection::on_read_head(const ErrorCode& ec, std::size_t n) {
  if (ec) {
    exchange_.record.received_bytes = client_in_.size();
    return fail(ProxyError::client_closed);
  }
  client_in_.end += n;
  parse_request_head();
}

// ---- 3-5. Route, then take or open an upstream connection ------------------------------------------

void DownstreamConnection::on_request_head() {
  exchange_.record.received_bytes = request_.head_bytes;
  exchange_.record.version = http1_version(request_.version_minor);

  // The head stays where it is until complete(): the record and the rewriter point into it.
  client_in_.begin += request_.head_bytes;
  head_end_ = client_in_.begin;
  if (client_in_.begin == client_in_.end) client_in_.begin = client_in_.end = head_end_;

  phase_ = Phase::exchange;
  clear_deadline(DeadlineKind::client);
  const Config& config = snapshot_->config;
  begin_exchange(worker_, *snapshot_, request_, client_peer(), exchange_);
  exchange_.keep_alive = request_.keep_alive;
  // An h2c upgrade is not passed on (RFC 9113 3.1 deprecates it, and a proxy that tunnels it lets a client
  // speak HTTP/2 to the upstream past every check): the request goes up as a plain one, Upgrade removed.
  upgrade_requested_ = request_.connection_upgrade && !request_.upgrade.empty() && !offers_h2c(request_.upgrade);

  // Body state first: any failure below must know that unread body bytes follow the head, or the
  // connection would be kept and the body parsed as the next request.
  switch (request_.framing) {
    case BodyFraming::content_length:
      request_body_left_ = request_.content_length;
      request_body_done_ = false;
      if (config.limits.max_request_body_bytes != 0 && request_.content_length > config.limits.max_request_body_bytes)
        return fail(ProxyError::body_too_large);
      break;
    case BodyFraming::chunked:
      request_chunks_.reset();
      request_body_done_ = false;
      break;
    default:
      request_body_done_ = true;
      break;
  }
  // RFC 9110 7.6.2: an OPTIONS or TRACE with no hops left is answered here, whatever the routes say.
  if (request_.max_forwards == 0) return answer_as_final_recipient();
  if (!exchange_.route && config.unmatched_routes == UnmatchedRoutes::reject) return fail(ProxyError::no_route);

  // Body bytes that arrived with the head go out with the request head.
  ProxyError error = ProxyError::none;
  first_part_ = take_request_body(client_in_.size(), error);
  exchange_.record.received_bytes += first_part_;
  if (error != ProxyError::none) return fail(error);
  first_part_pending_ = first_part_ > 0;

  Duration whole = exchange_.route ? exchange_.route->request_timeout : config.timeouts.request;
  set_deadline(DeadlineKind::request, whole);
  exchange_.endpoint_base = worker_.next_round_robin();
  leg_.begin(*snapshot_, request_.method_id);
  leg_.acquire();
}

bool DownstreamConnection::buffers_in_use() const noexcept {
  return transport_.buffers_in_use() || leg_.operations_in_flight();
}

void DownstreamConnection::release_buffer(IoBuffer& buffer) noexcept {
  if (!buffers_in_use()) worker_.buffers().release(buffer);
}

void DownstreamConnection::on_upstream_operations_done() noexcept {
  // Buffers kept for a given-up TLS operation: an idle connection holds none.
  if (phase_ != Phase::idle) return;
  release_buffer(client_in_);
  release_buffer(head_out_);
  release_buffer(upstream_in_);
}

// ---- 6. Relay the request ---------------------------------------------------------------------------

void DownstreamConnection::compose_request_head(HeadWriter& writer) noexcept {
  write_exchange_request_head(*snapshot_, request_, exchange_, client_peer(), upgrade_requested_, writer);
}

std::span<const char> DownstreamConnection::replayable_body() const noexcept {
  return first_part_pending_ ? std::span<const char>(client_in_.read_ptr(), first_part_)
                             : std::span<const char>();
}

bool DownstreamConnection::request_replayable() const noexcept {
  return request_body_done_ && !request_pump_active_;
}

void DownstreamConnection::on_request_head_sent() {
  if (request_body_done_) return;
  // The body continues: the first part can no longer be replayed, so free its room for the pump.
  release_first_part();
  do_read_request_body();
}

std::size_t DownstreamConnection::take_request_body(std::size_t available, ProxyError& error) noexcept {
  if (request_body_done_ || available == 0) return 0;
  std::size_t taken = 0;
  if (request_.framing == BodyFraming::content_length) {
    taken = static_cast<std::size_t>(std::min<std::uint64_t>(request_body_left_, available));
    request_body_left_ -= taken;
    exchange_.record.request_body_bytes += taken;
    request_body_done_ = request_body_left_ == 0;
  } else {
    taken = request_chunks_.feed({client_in_.read_ptr(), available},
                                 [this](std::string_view data) { exchange_.record.request_body_bytes += data.size(); });
    if (request_chunks_.failed()) error = ProxyError::bad_chunk;
    request_body_done_ = request_chunks_.done();
  }
  std::uint64_t limit = snapshot_->config.limits.max_request_body_bytes;
  if (limit != 0 && exchange_.record.request_body_bytes > limit) error = ProxyError::body_too_large;
  return taken;
}

void DownstreamConnection::do_read_request_body() {
  request_pump_active_ = true;
  set_deadline(DeadlineKind::client, snapshot_->config.timeouts.client_body);
  transport_.async_read_some(asio::buffer(client_in_.write_ptr(), client_in_.space()),
                             APIMETER_HANDLER(on_read_request_body));
}

void DownstreamConnection::on_read_request_body(const ErrorCode& ec, std::size_t n) {
  if (ec) {
    request_pump_active_ = false;
    return fail(ProxyError::client_closed);
  }
  client_in_.end += n;
  ProxyError error = ProxyError::none;
  request_part_ = take_request_body(client_in_.size(), error);
  exchange_.record.received_bytes += request_part_;
  if (error != ProxyError::none) {
    request_pump_active_ = false;
    return fail(error);
  }
  leg_.send_body(client_in_.read_ptr(), request_part_);
}

void DownstreamConnection::on_request_body_sent(const ErrorCode& ec) {
  if (ec) {
    // The upstream stopped reading (it may have answered early); the response side decides what follows.
    request_pump_active_ = false;
    exchange_.upstream_reusable = false;
    exchange_.keep_alive = false;
    clear_deadline(DeadlineKind::client);
    return maybe_complete();
  }
  consume_client(request_part_);
  if (request_body_done_) {
    request_pump_active_ = false;
    clear_deadline(DeadlineKind::client);
    return maybe_complete();
  }
  do_read_request_body();
}

// ---- 7. Relay the response --------------------------------------------------------------------------

void DownstreamConnection::on_upstream_interim() {
  const MessageHead& response = leg_.response();
  if (response.status == 101) {
    // The tunnel reads the client from here on: not while the request body is still being read into the
    // same buffer (one client read at a time, and no body bytes relayed twice).
    if (!upgrade_requested_ || !request_body_done_ || request_pump_active_)
      return fail(ProxyError::upstream_bad_response);
    return start_tunnel();
  }
  if (request_.version_minor == 0) {
    // HTTP/1.0 clients do not understand 1xx; drop it and read on.
    return leg_.next_response_head();
  }
  HeadWriter writer(head_out_.data(), head_out_.capacity());
  ClientResponseContext context;
  context.framing = ClientBodyFraming::none;
  write_client_response_head(response, context, writer);
  if (writer.overflowed()) return fail(ProxyError::upstream_bad_response);
  head_out_.begin = 0;
  head_out_.end = writer.size();
  transport_.async_write(asio::buffer(head_out_.read_ptr(), head_out_.size()),
                         APIMETER_HANDLER(on_write_interim));
}

void DownstreamConnection::on_write_interim(const ErrorCode& ec, std::size_t n) {
  if (ec) return fail(ProxyError::client_closed);
  exchange_.record.sent_bytes += n;
  leg_.next_response_head();
}

void DownstreamConnection::on_upstream_final() {
  const MessageHead& response = leg_.response();
  exchange_.record.status = response.status;
  exchange_.record.upstream_status = response.status;
  const bool client_http10 = request_.version_minor == 0;
  switch (response.framing) {
    case BodyFraming::none:
      client_framing_ = ClientBodyFraming::none;
      break;
    case BodyFraming::content_length:
      client_framing_ = ClientBodyFraming::content_length;
      break;
    case BodyFraming::chunked:
      // An HTTP/1.0 client reads a chunked body with its framing stripped, until the close.
      leg_.set_decode_chunks(client_http10);
      client_framing_ = client_http10 ? ClientBodyFraming::until_close : ClientBodyFraming::chunked;
      break;
    case BodyFraming::until_close:
      client_framing_ = ClientBodyFraming::until_close;
      break;
  }
  // A client that cannot see where the body ends, a request body still arriving, or a draining worker:
  // this response is the connection's last.
  if (client_framing_ == ClientBodyFraming::until_close || !request_body_done_ || worker_.draining())
    exchange_.keep_alive = false;

  HeadWriter writer(head_out_.data(), head_out_.capacity());
  ClientResponseContext context;
  context.framing = client_framing_;
  context.keep_alive = exchange_.keep_alive;
  context.client_http10 = client_http10;
  write_client_response_head(response, context, writer);
  if (writer.overflowed()) return fail(ProxyError::upstream_bad_response);
  head_out_.begin = 0;
  head_out_.end = writer.size();
  head_pending_ = true;
  exchange_.response_started = true;
  send_response_part(leg_.take_first_body());
}

void DownstreamConnection::send_response_part(std::size_t body_bytes) {
  if (!head_pending_ && body_bytes == 0) {
    if (leg_.broken()) return fail(ProxyError::upstream_bad_response);
    if (leg_.read_done()) {
      exchange_.response_done = true;  // nothing of it is left to write
      return maybe_complete();
    }
    return leg_.read_body();
  }
  // Over TLS each buffer becomes its own record (and its own send): a body part that fits behind the head
  // is copied there so that a small response goes out as one record.
  if (transport_.secure() && head_pending_ && body_bytes != 0 && body_bytes <= head_out_.space()) {
    std::memcpy(head_out_.write_ptr(), upstream_in_.read_ptr(), body_bytes);
    head_out_.end += body_bytes;
    body_bytes = 0;
  }
  std::array<asio::const_buffer, 2> buffers{
      asio::buffer(head_out_.read_ptr(), head_pending_ ? head_out_.size() : 0),
      asio::buffer(upstream_in_.read_ptr(), body_bytes)};
  head_pending_ = false;
  // A client that stops reading is bounded like one that stops sending.
  set_deadline(DeadlineKind::client, snapshot_->config.timeouts.client_body);
  transport_.async_write(buffers, APIMETER_HANDLER(on_write_response));
}

void DownstreamConnection::on_write_response(const ErrorCode& ec, std::size_t n) {
  if (ec) return fail(ProxyError::client_closed);
  if (!request_pump_active_) clear_deadline(DeadlineKind::client);
  exchange_.record.sent_bytes += n;
  upstream_in_.begin = upstream_in_.end = 0;
  if (leg_.broken()) return fail(ProxyError::upstream_bad_response);
  if (leg_.read_done()) {
    exchange_.response_done = true;  // its last bytes are written
    return maybe_complete();
  }
  leg_.read_body();
}

// ---- Upgraded connections ---------------------------------------------------------------------------

void DownstreamConnection::start_tunnel() {
  phase_ = Phase::tunnel;
  exchange_.record.status = 101;
  exchange_.response_started = true;
  exchange_.keep_alive = false;
  exchange_.upstream_reusable = false;
  clear_deadline(DeadlineKind::upstream);
  clear_deadline(DeadlineKind::request);
  set_deadline(DeadlineKind::client, snapshot_->config.timeouts.tunnel_idle);

  HeadWriter writer(head_out_.data(), head_out_.capacity());
  ClientResponseContext context;
  context.upgrade = true;
  write_client_response_head(leg_.response(), context, writer);
  if (writer.overflowed()) return fail(ProxyError::upstream_bad_response);
  upstream_in_.begin += leg_.response().head_bytes;
  std::size_t early = upstream_in_.size();  // upstream bytes that followed the 101 head
  exchange_.record.sent_bytes += writer.size() + early;
  std::array<asio::const_buffer, 2> buffers{asio::buffer(head_out_.data(), writer.size()),
                                            asio::buffer(upstream_in_.read_ptr(), early)};
  transport_.async_write(buffers,
                         [self = shared_from_this(), ex = generation_](const ErrorCode& ec, std::size_t) {
                           if (ex != self->generation_) return;
                           if (ec) return self->finish_tunnel();
                           self->upstream_in_.begin = self->upstream_in_.end = 0;
                           self->tunnel_read(false);
                           // Client bytes that arrived behind the upgrade request go first.
                           if (self->client_in_.size() > 0) {
                             self->on_tunnel_read(true, {}, 0);
                           } else {
                             self->tunnel_read(true);
                           }
                         });
}

void DownstreamConnection::tunnel_read(bool from_client) {
  IoBuffer& buffer = from_client ? client_in_ : upstream_in_;
  const auto into = asio::buffer(buffer.write_ptr(), buffer.space());
  if (!from_client)
    return leg_.connection()->transport.async_read_some(into,
                                                        APIMETER_UPSTREAM_HANDLER(on_upstream_tunnel_read));
  transport_.async_read_some(
      into, [self = shared_from_this(), ex = generation_](const ErrorCode& ec, std::size_t n) {
        if (ex != self->generation_) return;
        self->on_tunnel_read(true, ec, n);
      });
}

void DownstreamConnection::on_upstream_tunnel_read(const ErrorCode& ec, std::size_t n) {
  on_tunnel_read(false, ec, n);
}

void DownstreamConnection::on_upstream_tunnel_write(const ErrorCode& ec, std::size_t n) {
  on_tunnel_write(true, ec, n);
}

void DownstreamConnection::on_tunnel_read(bool from_client, const ErrorCode& ec, std::size_t n) {
  IoBuffer& buffer = from_client ? client_in_ : upstream_in_;
  if (ec) {
    if (ec != asio::error::eof) return finish_tunnel();
    // Half-close: pass the EOF on and keep the other direction going until it ends too. A TLS peer
    // cannot be half-closed while its read is pending (the close_notify exchange needs the read side), so
    // an EOF bound for a TLS side ends the tunnel there.
    Transport& peer = from_client ? leg_.connection()->transport : transport_;
    if (peer.secure()) return finish_tunnel();
    tunnel_done_[from_client ? 0 : 1] = true;
    ErrorCode ignored;
    peer.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (tunnel_done_[0] && tunnel_done_[1]) finish_tunnel();
    return;
  }
  buffer.end += n;
  (from_client ? exchange_.record.received_bytes : exchange_.record.sent_bytes) += buffer.size();
  set_deadline(DeadlineKind::client, snapshot_->config.timeouts.tunnel_idle);
  const auto from = asio::buffer(buffer.read_ptr(), buffer.size());
  if (from_client)
    return leg_.connection()->transport.async_write(from,
                                                    APIMETER_UPSTREAM_HANDLER(on_upstream_tunnel_write));
  transport_.async_write(from,
                         [self = shared_from_this(), ex = generation_](const ErrorCode& ec, std::size_t n) {
                           if (ex != self->generation_) return;
                           self->on_tunnel_write(false, ec, n);
                         });
}

void DownstreamConnection::on_tunnel_write(bool from_client, const ErrorCode& ec, std::size_t) {
  if (ec) return finish_tunnel();
  if (from_client) {
    client_in_.begin = client_in_.end = head_end_;
  } else {
    upstream_in_.begin = upstream_in_.end = 0;
  }
  tunnel_read(from_client);
}

void DownstreamConnection::finish_tunnel() {
  exchange_.response_done = true;
  end_exchange(Ending::close);
}

// ---- 8-9. Complete, then the next request -----------------------------------------------------------

void DownstreamConnection::fail(ProxyError error) {
  if (phase_ == Phase::closed || phase_ == Phase::lingering) return;
  if (exchange_.record.error_type.empty()) exchange_.record.error_type = error_info(error).type;
  leg_.give_up();
  const ErrorInfo& info = error_info(error);
  // An interim (1xx) head still being written counts as started: its bytes are on the way, and the reply
  // would need the buffer it is written from.
  if (exchange_.response_started || transport_.write_pending() || info.status == 0 || !in_request_) {
    // Bytes of a response already went out, or the client is gone: closing is the only honest signal.
    // With a declared length or chunking the client sees the cut; a client reading until close would
    // take a FIN for a complete body, so it gets a reset.
    return end_exchange(cut_ending());
  }
  exchange_.record.status = info.status;
  prepare_local_reply();
  HeadWriter writer(head_out_.data(), head_out_.capacity());
  write_local_reply(info.status, info.body, exchange_.keep_alive, writer);
  send_local_reply(writer.size());
}

void DownstreamConnection::answer_as_final_recipient() {
  prepare_local_reply();
  HeadWriter writer(head_out_.data(), head_out_.capacity());
  write_final_recipient_reply(request_, exchange_.keep_alive, writer);
  // A TRACE echo that does not fit the buffer: the head was too large to be echoed.
  if (writer.overflowed()) return fail(ProxyError::header_section_too_large);
  exchange_.record.status = 200;
  send_local_reply(writer.size());
}

void DownstreamConnection::prepare_local_reply() {
  // Keep the connection only when the request was read completely and nothing else is in flight.
  exchange_.keep_alive = exchange_.keep_alive && phase_ == Phase::exchange && request_body_done_ &&
                         !request_pump_active_ && !worker_.draining();
  if (!head_out_) head_out_ = worker_.buffers().acquire();
}

void DownstreamConnection::send_local_reply(std::size_t head_bytes) {
  ++generation_;  // completions of the exchange this reply ends must not act any more
  exchange_.response_started = true;
  head_out_.begin = 0;
  head_out_.end = head_bytes;
  clear_deadline(DeadlineKind::upstream);
  clear_deadline(DeadlineKind::request);
  // The reply itself must not hang on a client that does not read.
  set_deadline(DeadlineKind::client, snapshot_->config.timeouts.client_body);
  transport_.async_write(asio::buffer(head_out_.read_ptr(), head_out_.size()),
                         APIMETER_HANDLER(on_write_local_reply));
}

void DownstreamConnection::on_write_local_reply(const ErrorCode& ec, std::size_t n) {
  exchange_.record.sent_bytes += n;
  if (ec) return end_exchange(Ending::close);
  exchange_.response_done = true;
  end_exchange(Ending::response_done);
}

void DownstreamConnection::maybe_complete() {
  if (!exchange_.response_done || phase_ != Phase::exchange) return;
  end_exchange(Ending::response_done);
}

void DownstreamConnection::complete() {
  if (!in_request_) return;
  in_request_ = false;
  complete_exchange(worker_, exchange_);
}

DownstreamConnection::Ending DownstreamConnection::cut_ending() const noexcept {
  const bool cut_without_framing =
      exchange_.response_started && !exchange_.response_done && client_framing_ == ClientBodyFraming::until_close;
  return cut_without_framing ? Ending::reset : Ending::close;
}

void DownstreamConnection::end_exchange(Ending ending) {
  // What survives the exchange is decided here and only here. A request body still arriving (the upstream
  // answered early) leaves both sides out of step: where the next request starts is unknown.
  const bool in_step = request_body_done_ && !request_pump_active_;
  const bool keep_upstream = ending == Ending::response_done && exchange_.upstream_reusable && in_step;
  // While draining, the response said Connection: close; only once the listener is closed does a
  // connection end right after its response, as idle ones do then.
  const bool keep_connection =
      ending == Ending::response_done && exchange_.keep_alive && in_step && !worker_.stopped_accepting();
  // Before the complete step: a given-up upstream ends the leg the sinks read.
  if (keep_upstream) {
    leg_.release(true);
  } else {
    leg_.give_up();
  }
  complete();
  if (ending == Ending::reset) abort_connection();
  if (ending != Ending::response_done) return close_connection();
  release_buffer(head_out_);
  release_buffer(upstream_in_);
  clear_deadline(DeadlineKind::upstream);
  clear_deadline(DeadlineKind::request);
  if (!keep_connection) return linger_close();
  next_request();
}

void DownstreamConnection::next_request() {
  ++generation_;
  release_first_part();
  if (client_in_.size() > 0) {
    // A pipelined request is already buffered.
    client_in_.compact();
    begin_request();
    return parse_request_head();
  }
  release_buffer(client_in_);
  awaiting_first_request_ = false;
  const Timeouts& t = snapshot_->config.timeouts;
  do_wait_request(client_wait_timeout(t.client_idle, t.client_idle_floor));
}

void DownstreamConnection::linger_close() {
  // Closing with unread input would make the kernel send RST, which can destroy the response we just
  // wrote before the client reads it; so half-close and drain the input for a moment first.
  ++generation_;
  phase_ = Phase::lingering;
  // A body read may still be pending into client_in_ (the exchange ended before the request body did):
  // cancel it before the buffer goes back to the pool. Its completion belongs to an old generation.
  ErrorCode cancelled;
  transport_.socket().cancel(cancelled);
  // Over TLS the cancelled read may still decrypt into it: then it goes with the connection instead.
  release_buffer(client_in_);
  deadlines_.clear_all();
  set_deadline(DeadlineKind::client, kLingerTimeout);
  // Cleartext: a FIN, then drain until the client closes. TLS: a close_notify, and the shutdown itself
  // reads until the client's answers it; then close.
  transport_.async_shutdown_send([self = shared_from_this(), ex = generation_](const ErrorCode& ec) {
    if (ex != self->generation_) return;
    if (ec || self->transport_.secure()) return self->close();
    self->on_linger_read({}, 0);
  });
}

void DownstreamConnection::on_linger_read(const ErrorCode& ec, std::size_t) {
  if (ec) return close();
  transport_.async_read_some(asio::buffer(idle_read_), APIMETER_HANDLER(on_linger_read));
}

void DownstreamConnection::abort_connection() noexcept {
  ErrorCode ignored;
  transport_.socket().set_option(asio::socket_base::linger(true, 0), ignored);
}

void DownstreamConnection::close() {
  if (phase_ == Phase::closed) return;
  if (phase_ == Phase::http2) {
    phase_ = Phase::lingering;  // on_session_done() must not linger now
    http2_->close();
    return close_connection();
  }
  // An exchange still open (a worker stopping, a timeout) ends with the connection, and is accounted for.
  if (in_request_) return end_exchange(cut_ending());
  close_connection();
}

void DownstreamConnection::close_connection() {
  if (phase_ == Phase::closed) return;
  phase_ = Phase::closed;
  ++generation_;
  ErrorCode ignored;
  transport_.socket().close(ignored);
  deadlines_.cancel();
  leg_.release(false);
  // A client read or write still in flight (cancelled, but over TLS possibly about to decrypt into or
  // encrypt from its buffer) keeps the buffers: they are freed with the connection, never reused early.
  release_buffer(client_in_);
  release_buffer(head_out_);
  release_buffer(upstream_in_);
  worker_.connection_closed(*this);
}

void DownstreamConnection::release_first_part() noexcept {
  if (!first_part_pending_) return;
  consume_client(first_part_);
  first_part_pending_ = false;
}

void DownstreamConnection::consume_client(std::size_t n) noexcept {
  client_in_.begin += n;
  // Keep the head in place: body bytes always land behind it.
  if (client_in_.begin == client_in_.end) client_in_.begin = client_in_.end = head_end_;
}

// ---- Deadlines --------------------------------------------------------------------------------------

void DownstreamConnection::set_deadline(DeadlineKind kind, Duration timeout) noexcept {
  deadlines_.set(kind, timeout, [this](Timer& timer) { arm_timer(timer); });
}

void DownstreamConnection::clear_deadline(DeadlineKind kind) noexcept {
  deadlines_.clear(kind);
}

void DownstreamConnection::arm_timer(Timer& timer) noexcept {
  timer.async_wait([self = shared_from_this()](const ErrorCode& ec) { self->on_timer(ec); });
}

void DownstreamConnection::on_timer(const ErrorCode& ec) {
  if (ec == asio::error::operation_aborted || phase_ == Phase::closed) return;
  deadlines_.fired(
      [this](DeadlineKind kind) {
        on_deadline(kind);
        return phase_ != Phase::closed;
      },
      [this](Timer& timer) { arm_timer(timer); });
}

void DownstreamConnection::on_deadline(DeadlineKind kind) {
  switch (kind) {
    case DeadlineKind::client:
      switch (phase_) {
        case Phase::idle:
          // A wait cut short by load is a connection given back for new clients, and counted as one.
          if (client_timeout_shrunk_)
            worker_.metrics().connection_reclaimed(awaiting_first_request_ ? metrics::ReclaimReason::overload_header_timeout
                                                                           : metrics::ReclaimReason::overload_idle_timeout);
          return close();
        case Phase::handshake:
          if (client_timeout_shrunk_)
            worker_.metrics().connection_reclaimed(metrics::ReclaimReason::overload_header_timeout);
          worker_.metrics().tls_handshake_failed(metrics::TlsHandshakeFailure::timeout);
          return close();
        case Phase::lingering:
          return close();
        case Phase::http2:
          // Idle with no stream for the idle timeout: GOAWAY, then the close.
          if (client_timeout_shrunk_)
            worker_.metrics().connection_reclaimed(metrics::ReclaimReason::overload_idle_timeout);
          return http2_->drain();
        case Phase::reading_head:
          if (client_timeout_shrunk_) worker_.metrics().connection_reclaimed(metrics::ReclaimReason::overload_header_timeout);
          return fail(ProxyError::client_header_timeout);
        case Phase::tunnel:
          return finish_tunnel();
        case Phase::exchange:
          // A request body stalled, or a response is not being read: once a response started, fail() ends
          // the connection the way that shows a cut body as cut (a reset for a close-delimited one).
          return fail(ProxyError::client_body_timeout);
        case Phase::closed:
          return;
      }
      return;
    case DeadlineKind::upstream:
      if (phase_ != Phase::exchange) return;
      return leg_.on_deadline();
    case DeadlineKind::request:
      if (phase_ == Phase::exchange) fail(ProxyError::request_timeout);
      return;
    case DeadlineKind::kCount:
      return;
  }
}

}  // namespace apimeter
