// The request state machine (README, "the life of one request"). Every completion handler captures the
// connection's generation (bumped when an exchange ends) and returns at once when it has moved on, so a
// late completion (a cancelled read, a write racing a timeout) never acts twice.
#include "proxy/downstream_connection.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <arpa/inet.h>

#include <cstring>

#include "common/tls_client.hpp"
#include "proxy/connect_error.hpp"
#include "proxy/router.hpp"
#include "proxy/tls/handshake_outcome.hpp"
#include "proxy/tls/tls_server_context.hpp"

namespace apimeter {
namespace {

constexpr Duration kLingerTimeout = std::chrono::seconds(2);

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

// Completion-handler wrapper: keeps the connection alive and drops completions of an earlier exchange.
#define APIMETER_HANDLER(method)                                                   \
  [self = shared_from_this(), ex = generation_](const ErrorCode& ec, std::size_t n) { \
    if (ex != self->generation_) return;                                             \
    self->method(ec, n);                                                           \
  }

// The same for an operation on the upstream connection, which the handler also holds: an upstream
// connection given up on (closed, released) must outlive the operations still queued on it, since they
// run in its socket, its TLS stream and its transport's counters. Over TLS the operation also counts
// itself in flight until it completes: a cancelled TLS read may still decrypt into our buffer, so buffers
// stay with the connection until then (buffers_in_use()).
#define APIMETER_UPSTREAM_HANDLER(method)                                                                    \
  [self = shared_from_this(), ex = generation_, upstream = upstream_, counted = count_upstream_operation()]( \
      const ErrorCode& ec, std::size_t n) {                                                                  \
    if (counted && --self->upstream_tls_operations_ == 0) self->on_upstream_operations_done();               \
    if (ex != self->generation_) return;                                                                     \
    self->method(ec, n);                                                                                     \
  }

DownstreamConnection::DownstreamConnection(Worker& worker, Socket socket)
    : worker_(worker),
      transport_(std::move(socket)),
      timer_(worker.io().get_executor()),
      snapshot_(worker.snapshot()) {
  deadlines_.fill(Clock::time_point::max());
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
  // The handshake and the wait for the first request share one budget: the first wait's.
  const Clock::time_point deadline = deadlines_[static_cast<std::size_t>(DeadlineKind::client)];
  const Duration left = deadline == Clock::time_point::max()
                            ? Duration(0)  // no timeout
                            : std::max(Duration(1), std::chrono::ceil<Duration>(deadline - Clock::now()));
  wait_first_request(left);
}

void DownstreamConnection::stop_if_idle() {
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
  begin_request();
  parse_request_head();
}

void DownstreamConnection::begin_request() {
  if (snapshot_ != worker_.snapshot()) snapshot_ = worker_.snapshot();
  phase_ = Phase::reading_head;
  upstream_state_ = UpstreamState::none;
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
  response_read_ = response_broken_ = head_pending_ = dechunk_ = false;
  client_framing_ = ClientBodyFraming::none;
  upgrade_requested_ = false;
  tunnel_done_[0] = tunnel_done_[1] = false;
  request_parser_.reset();
  response_parser_.reset();
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
  exchange_.record.head_read = Clock::now();
  exchange_.record.received_bytes = request_.head_bytes;
  exchange_.record.method = request_.method;
  exchange_.record.target = request_.target;
  exchange_.record.path = request_.path;
  exchange_.record.version = http1_version(request_.version_minor);
  exchange_.record.host = request_.target_form == TargetForm::absolute ? request_.authority : request_.host;
  if (const HeaderField* ua = request_.find(FieldId::user_agent)) exchange_.record.user_agent = ua->value;

  // The head stays where it is until complete(): the record and the rewriter point into it.
  client_in_.begin += request_.head_bytes;
  head_end_ = client_in_.begin;
  if (client_in_.begin == client_in_.end) client_in_.begin = client_in_.end = head_end_;

  phase_ = Phase::exchange;
  clear_deadline(DeadlineKind::client);
  const Config& config = snapshot_->config;
  exchange_.route = snapshot_->router.match(request_.method, request_.path);
  if (exchange_.route) {
    exchange_.record.route_index = static_cast<std::int32_t>(exchange_.route->index);
    const auto& labels = snapshot_->metrics->route_labels;
    exchange_.record.route_label = exchange_.route->index < labels.size()
                                       ? std::string_view(labels[exchange_.route->index])
                                       : std::string_view(exchange_.route->label);
  }
  identify_request();
  begin_trace();
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
  acquire_upstream();
}

void DownstreamConnection::identify_request() noexcept {
  if (!worker_.metrics_enabled()) return;
  const metrics::MetricsSettings& settings = *snapshot_->metrics;
  auto header = [this](std::string_view name) -> std::string_view {
    for (const HeaderField& field : request_.fields)
      if (iequals(field.name, name)) return field.value;
    return {};
  };
  if (settings.user_source.kind != metrics::UserIdentitySource::Kind::none) {
    const metrics::PeerIdentity peer{client_address_, std::string_view(peer_subject_, peer_subject_length_)};
    std::string_view user =
        metrics::extract_user(settings.user_source, header, peer, worker_.identity_scratch());
    // Ids longer than the buffer are cut; they stay distinct enough for a heavy-hitter list. No identity
    // is an empty view that may have no data at all, so nothing is copied then.
    std::size_t n = std::min(user.size(), exchange_.user.size());
    if (n > 0) {
      std::memcpy(exchange_.user.data(), user.data(), n);
      exchange_.record.user = std::string_view(exchange_.user.data(), n);
      if (settings.top_users > 0) exchange_.user_token = worker_.metrics().user_started(exchange_.record.user);
    }
  }
  if (!settings.extra_labels.empty())
    metrics::extract_extra_labels(settings.extra_labels, header, request_.target, exchange_.extra_labels);
}

void DownstreamConnection::begin_trace() noexcept {
  if (!snapshot_->tracing.enabled) return;
  tracing::IncomingTraceHeaders headers;
  for (const HeaderField& field : request_.fields) {
    switch (field.id) {
      case FieldId::traceparent:
        headers.traceparent = field.value;
        ++headers.traceparent_count;
        break;
      case FieldId::tracestate:
        if (headers.tracestate.empty()) headers.tracestate = field.value;
        break;
      case FieldId::b3: headers.b3 = field.value; break;
      case FieldId::x_b3_trace_id: headers.b3_trace_id = field.value; break;
      case FieldId::x_b3_span_id: headers.b3_span_id = field.value; break;
      case FieldId::x_b3_sampled: headers.b3_sampled = field.value; break;
      case FieldId::x_b3_flags: headers.b3_flags = field.value; break;
      default: break;
    }
  }
  worker_.tracer().begin(snapshot_->tracing, headers, exchange_.record.trace);
}

void DownstreamConnection::acquire_upstream() {
  if (exchange_.record.upstream_started == Clock::time_point{}) exchange_.record.upstream_started = Clock::now();
  const auto& endpoints = snapshot_->endpoints;
  exchange_.endpoint = &endpoints[(exchange_.endpoint_base + exchange_.endpoints_tried) % endpoints.size()];
  exchange_.record.upstream_address = exchange_.endpoint->name;
  exchange_.endpoint->stats->attempt(worker_.index());
  upstream_ = worker_.upstreams().take(exchange_.endpoint->address);
  if (upstream_) {
    worker_.upstream_acquired();
    exchange_.record.upstream_reused = true;
    exchange_.record.upstream_connected = Clock::now();
    return send_request_head();
  }
  connect_upstream();
}

void DownstreamConnection::connect_upstream() {
  exchange_.record.upstream_reused = false;
  upstream_ = std::make_shared<UpstreamConnection>(worker_.io());
  worker_.upstream_acquired();
  upstream_->endpoint = exchange_.endpoint->address;
  upstream_->tls_context = snapshot_->upstream_tls ? snapshot_->upstream_tls->id : 0;
  exchange_.endpoint->stats->connect(worker_.index());
  upstream_state_ = UpstreamState::connecting;
  set_deadline(DeadlineKind::upstream, snapshot_->config.timeouts.upstream_connect);
  upstream_->transport.socket().async_connect(exchange_.endpoint->address,
                                  [self = shared_from_this(), ex = generation_](const ErrorCode& ec) {
                                    if (ex != self->generation_) return;
                                    self->on_connect(ec);
                                  });
}

void DownstreamConnection::on_connect(const ErrorCode& ec) {
  if (ec) return upstream_connect_failed(connect_error_type(ec), ProxyError::upstream_refused);
  ErrorCode ignored;
  upstream_->transport.socket().set_option(tcp::no_delay(true), ignored);
  if (snapshot_->upstream_tls) return start_upstream_tls();
  exchange_.record.upstream_connected = Clock::now();
  send_request_head();
}

void DownstreamConnection::start_upstream_tls() {
  TlsClientContext& tls = *snapshot_->upstream_tls;
  UpstreamConnection& upstream = *upstream_;
  const ErrorCode no_session = make_error_code(asio::error::no_memory);
  try {
    upstream.transport.start_tls(tls.context);
  } catch (...) {  // OpenSSL could not make a session (out of memory)
    ERR_clear_error();
    return on_upstream_handshake(no_session);
  }
  SSL* session = upstream.transport.tls_session();
  upstream.session_slot = {&worker_.upstream_tls_sessions(), upstream.endpoint, tls.id};
  attach_session_slot(session, &upstream.session_slot);
  if (!expect_peer(session, exchange_.endpoint->tls_peer_name)) {
    ERR_clear_error();
    return on_upstream_handshake(no_session);
  }
  // A copy: OpenSSL marks the session a connection holds not resumable when that connection ends without
  // a close_notify, and the cached one must survive this connection.
  if (SSL_SESSION* cached = worker_.upstream_tls_sessions().find(upstream.endpoint, tls.id)) {
    if (SSL_SESSION* copy = SSL_SESSION_dup(cached)) {
      SSL_set_session(session, copy);
      SSL_SESSION_free(copy);  // the SSL holds its own reference
    }
    ERR_clear_error();
  }
  // The connect deadline covers the handshake too: the connection is not usable before it is done. The
  // handshake touches none of our buffers, so it holds the connection without counting itself.
  upstream_state_ = UpstreamState::handshaking;
  upstream.transport.async_handshake(
      asio::ssl::stream_base::client,
      [self = shared_from_this(), ex = generation_, upstream = upstream_](const ErrorCode& ec) {
        if (ex == self->generation_) self->on_upstream_handshake(ec);
      });
}

void DownstreamConnection::on_upstream_handshake(const ErrorCode& ec) {
  SSL* session = upstream_->transport.tls_session();
  if (ec) {
    const UpstreamTlsFailure failure =
        classify_upstream_tls_failure(ec, session != nullptr ? SSL_get_verify_result(session) : X509_V_OK);
    worker_.upstream_tls_sessions().forget(upstream_->endpoint);
    return upstream_connect_failed(failure.error_type, failure.certificate
                                                           ? ProxyError::upstream_tls_certificate
                                                           : ProxyError::upstream_tls_handshake);
  }
  if (worker_.metrics_enabled())
    worker_.metrics().upstream_tls_handshake(tls_version_label(SSL_version(session)),
                                             SSL_session_reused(session) == 1);
  exchange_.record.upstream_connected = Clock::now();
  send_request_head();
}

void DownstreamConnection::count_connect_error(std::string_view error_type) noexcept {
  exchange_.endpoint->stats->connect_error(worker_.index());
  if (worker_.metrics_enabled()) worker_.metrics().upstream_connect_error(error_type);
}

void DownstreamConnection::upstream_connect_failed(std::string_view error_type, ProxyError error) {
  count_connect_error(error_type);
  release_upstream(false);
  // Nothing was sent, so another endpoint may be tried whatever the method.
  if (++exchange_.endpoints_tried < snapshot_->endpoints.size()) return acquire_upstream();
  fail(error);
}

bool DownstreamConnection::count_upstream_operation() noexcept {
  if (!upstream_->transport.secure()) return false;
  ++upstream_tls_operations_;
  return true;
}

bool DownstreamConnection::buffers_in_use() const noexcept {
  return transport_.buffers_in_use() || upstream_tls_operations_ != 0;
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

void DownstreamConnection::send_request_head() {
  if (!head_out_) head_out_ = worker_.buffers().acquire();
  HeadWriter writer(head_out_.data(), head_out_.capacity());
  UpstreamRequestContext context;
  context.client_ip = client_address_;
  context.scheme = exchange_.record.scheme;
  context.trust_forwarded_headers = snapshot_->config.trust_forwarded_headers;
  context.upgrade = upgrade_requested_;
  // The upstream continues our trace under the CLIENT span: traceparent (and B3 when asked) name it.
  // The values are copied into the head as it is written, so they may live on the stack.
  std::array<std::string_view, 10> trace_fields;
  std::size_t trace_field_count = 0;
  std::array<char, tracing::kTraceparentLength> traceparent;
  std::array<char, 64> b3;
  const TraceContext& trace = exchange_.record.trace;
  if (trace.active) {
    auto add = [&](std::string_view name, std::string_view value) {
      trace_fields[trace_field_count * 2] = name;
      trace_fields[trace_field_count * 2 + 1] = value;
      ++trace_field_count;
    };
    tracing::format_traceparent(trace.trace_id, trace.client_span_id, trace.sampled, traceparent);
    add("traceparent", {traceparent.data(), traceparent.size()});
    const tracing::B3Emit b3_emit = snapshot_->tracing.emit_b3;
    if (b3_emit == tracing::B3Emit::single) {
      tracing::format_b3_single(trace.trace_id, trace.client_span_id, trace.sampled,
                                std::span<char, tracing::kB3SingleLength>(b3.data(), tracing::kB3SingleLength));
      add("b3", {b3.data(), tracing::kB3SingleLength});
    } else if (b3_emit == tracing::B3Emit::multi) {
      // Laid out in `b3`: trace id (32), span id (16), parent span id (16).
      tracing::write_hex(trace.trace_id, b3.data());
      tracing::write_hex(trace.client_span_id, b3.data() + 32);
      tracing::write_hex(trace.server_span_id, b3.data() + 48);
      add("X-B3-TraceId", {b3.data(), 32});
      add("X-B3-SpanId", {b3.data() + 32, 16});
      add("X-B3-ParentSpanId", {b3.data() + 48, 16});
      add("X-B3-Sampled", trace.sampled ? "1" : "0");
    }
    context.replace_trace_context = true;
    context.keep_tracestate = trace.parent == ParentFormat::w3c;
    context.extra_fields = trace_fields.data();
    context.extra_field_count = trace_field_count;
  }
  write_upstream_request_head(request_, context, writer);
  if (writer.overflowed()) return fail(ProxyError::header_section_too_large);
  head_out_.begin = 0;
  head_out_.end = writer.size();

  upstream_state_ = UpstreamState::sending;
  Duration response_timeout = exchange_.route ? exchange_.route->upstream_response_timeout
                                              : snapshot_->config.timeouts.upstream_response;
  set_deadline(DeadlineKind::upstream, response_timeout);
  // Over TLS each buffer becomes its own record: body bytes that came with the head and fit behind it are
  // copied there, so a small request goes out as one record (a retry writes the head afresh).
  std::size_t first_part = first_part_;
  if (upstream_->transport.secure() && first_part != 0 && first_part <= head_out_.space()) {
    std::memcpy(head_out_.write_ptr(), client_in_.read_ptr(), first_part);
    head_out_.end += first_part;
    first_part = 0;
  }
  std::array<asio::const_buffer, 2> buffers{asio::buffer(head_out_.read_ptr(), head_out_.size()),
                                            asio::buffer(client_in_.read_ptr(), first_part)};
  upstream_->transport.async_write(buffers, APIMETER_UPSTREAM_HANDLER(on_write_request_head));
}

void DownstreamConnection::on_write_request_head(const ErrorCode& ec, std::size_t) {
  if (ec) {
    if (retry_allowed()) return retry();
    return fail(ProxyError::upstream_reset);
  }
  upstream_state_ = UpstreamState::awaiting_head;
  if (!request_body_done_) {
    // The body continues: the first part can no longer be replayed, so free its room for the pump.
    release_first_part();
    do_read_request_body();
  }
  do_read_response_head();
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
  upstream_->transport.async_write(asio::buffer(client_in_.read_ptr(), request_part_),
                                   APIMETER_UPSTREAM_HANDLER(on_write_request_body));
}

void DownstreamConnection::on_write_request_body(const ErrorCode& ec, std::size_t) {
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

bool DownstreamConnection::retry_allowed() const noexcept {
  // Only a reused connection can be stale, only once, only when the whole request can be sent again and
  // the method says sending it twice is harmless, and only before any response byte arrived.
  return exchange_.record.upstream_reused && !exchange_.record.upstream_retried && request_body_done_ &&
         !request_pump_active_ && is_idempotent(request_.method_id) && upstream_in_.size() == 0 &&
         exchange_.record.upstream_first_byte == Clock::time_point{};
}

void DownstreamConnection::retry() {
  exchange_.record.upstream_retried = true;
  release_upstream(false);
  connect_upstream();
}

// ---- 7. Relay the response --------------------------------------------------------------------------

void DownstreamConnection::do_read_response_head() {
  if (!upstream_in_) upstream_in_ = worker_.buffers().acquire();
  if (upstream_in_.space() == 0) upstream_in_.compact();
  if (upstream_in_.space() == 0) return fail(ProxyError::upstream_bad_response);
  upstream_->transport.async_read_some(asio::buffer(upstream_in_.write_ptr(), upstream_in_.space()),
                                       APIMETER_UPSTREAM_HANDLER(on_read_response_head));
}

void DownstreamConnection::on_read_response_head(const ErrorCode& ec, std::size_t n) {
  if (ec) {
    bool nothing_received = upstream_in_.size() == 0 && exchange_.record.upstream_first_byte == Clock::time_point{};
    // TLS 1.3: the upstream judges our client certificate after our side of the handshake has finished,
    // so its refusal (an alert) arrives in place of the first response of a new connection.
    if (nothing_received && !exchange_.record.upstream_reused && upstream_->transport.secure() &&
        ec.category() == asio::error::get_ssl_category()) {
      worker_.upstream_tls_sessions().forget(upstream_->endpoint);
      count_connect_error(classify_upstream_tls_failure(ec, X509_V_OK).error_type);
      return fail(ProxyError::upstream_tls_handshake);
    }
    if (nothing_received && is_peer_gone(ec) && retry_allowed()) return retry();
    return fail(nothing_received ? ProxyError::upstream_reset : ProxyError::upstream_bad_response);
  }
  if (exchange_.record.upstream_first_byte == Clock::time_point{}) {
    exchange_.record.upstream_first_byte = Clock::now();
    // A response began: the request will not be replayed, so its first body part can go.
    release_first_part();
  }
  upstream_in_.end += n;
  parse_response_head();
}

void DownstreamConnection::parse_response_head() {
  ProxyError error = ProxyError::none;
  ParseStatus status =
      response_parser_.parse_response({upstream_in_.read_ptr(), upstream_in_.size()},
                                      snapshot_->response_limits, request_.method_id, response_, error);
  if (status == ParseStatus::error) return fail(ProxyError::upstream_bad_response);
  if (status == ParseStatus::incomplete) return do_read_response_head();
  if (response_.status < 200) return on_interim_response();
  on_final_response();
}

void DownstreamConnection::on_interim_response() {
  if (response_.status == 101) {
    // The tunnel reads the client from here on: not while the request body is still being read into the
    // same buffer (one client read at a time, and no body bytes relayed twice).
    if (!upgrade_requested_ || !request_body_done_ || request_pump_active_)
      return fail(ProxyError::upstream_bad_response);
    return start_tunnel();
  }
  if (request_.version_minor == 0) {
    // HTTP/1.0 clients do not understand 1xx; drop it and read on.
    on_write_interim({}, 0);
    return;
  }
  HeadWriter writer(head_out_.data(), head_out_.capacity());
  ClientResponseContext context;
  context.framing = ClientBodyFraming::none;
  write_client_response_head(response_, context, writer);
  if (writer.overflowed()) return fail(ProxyError::upstream_bad_response);
  head_out_.begin = 0;
  head_out_.end = writer.size();
  transport_.async_write(asio::buffer(head_out_.read_ptr(), head_out_.size()),
                         APIMETER_HANDLER(on_write_interim));
}

void DownstreamConnection::on_write_interim(const ErrorCode& ec, std::size_t n) {
  if (ec) return fail(ProxyError::client_closed);
  exchange_.record.sent_bytes += n;
  upstream_in_.consume(response_.head_bytes);
  response_parser_.reset();
  if (upstream_in_.size() > 0) return parse_response_head();
  do_read_response_head();
}

void DownstreamConnection::on_final_response() {
  exchange_.record.status = response_.status;
  exchange_.record.upstream_status = response_.status;
  const bool client_http10 = request_.version_minor == 0;
  exchange_.upstream_reusable = response_.keep_alive;
  response_body_left_ = 0;
  switch (response_.framing) {
    case BodyFraming::none:
      client_framing_ = ClientBodyFraming::none;
      break;
    case BodyFraming::content_length:
      client_framing_ = ClientBodyFraming::content_length;
      response_body_left_ = response_.content_length;
      break;
    case BodyFraming::chunked:
      response_chunks_.reset();
      dechunk_ = client_http10;
      client_framing_ = dechunk_ ? ClientBodyFraming::until_close : ClientBodyFraming::chunked;
      break;
    case BodyFraming::until_close:
      client_framing_ = ClientBodyFraming::until_close;
      exchange_.upstream_reusable = false;
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
  write_client_response_head(response_, context, writer);
  if (writer.overflowed()) return fail(ProxyError::upstream_bad_response);
  head_out_.begin = 0;
  head_out_.end = writer.size();
  head_pending_ = true;
  exchange_.response_started = true;
  upstream_state_ = UpstreamState::body;

  upstream_in_.begin += response_.head_bytes;
  std::size_t body = take_response_body(upstream_in_.read_ptr(), upstream_in_.size());
  set_deadline(DeadlineKind::upstream, snapshot_->config.timeouts.upstream_body);
  send_response_part(body);
}

std::size_t DownstreamConnection::take_response_body(char* data, std::size_t available) noexcept {
  std::size_t out = 0;
  std::size_t consumed = 0;
  bool done = false;
  switch (response_.framing) {
    case BodyFraming::none:
      done = true;
      break;
    case BodyFraming::content_length:
      out = consumed = static_cast<std::size_t>(std::min<std::uint64_t>(response_body_left_, available));
      response_body_left_ -= out;
      exchange_.record.response_body_bytes += out;
      done = response_body_left_ == 0;
      break;
    case BodyFraming::chunked:
      if (dechunk_) {
        // Data runs are moved to the front in place; each run starts at or after the write cursor.
        consumed = response_chunks_.feed({data, available}, [&](std::string_view run) {
          std::memmove(data + out, run.data(), run.size());
          out += run.size();
        });
      } else {
        consumed = out = response_chunks_.feed({data, available}, [](std::string_view) {});
      }
      exchange_.record.response_body_bytes = response_chunks_.data_bytes();
      response_broken_ = response_chunks_.failed();
      done = response_chunks_.done();
      break;
    case BodyFraming::until_close:
      out = consumed = available;
      exchange_.record.response_body_bytes += out;
      break;
  }
  if (done) {
    // Bytes after the end of the response: the upstream is out of step, never reuse it.
    if (consumed < available) exchange_.upstream_reusable = false;
    mark_response_read();
  }
  return out;
}

void DownstreamConnection::mark_response_read() noexcept {
  if (response_read_) return;
  response_read_ = true;
  exchange_.record.upstream_done = Clock::now();
  // The upstream is done with; what is left is the client's to read (under the client deadline).
  clear_deadline(DeadlineKind::upstream);
}

void DownstreamConnection::send_response_part(std::size_t body_bytes) {
  if (!head_pending_ && body_bytes == 0) {
    if (response_broken_) return fail(ProxyError::upstream_bad_response);
    if (response_read_) {
      exchange_.response_done = true;  // nothing of it is left to write
      return maybe_complete();
    }
    return do_read_response_body();
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
  if (response_broken_) return fail(ProxyError::upstream_bad_response);
  if (response_read_) {
    exchange_.response_done = true;  // its last bytes are written
    return maybe_complete();
  }
  do_read_response_body();
}

void DownstreamConnection::do_read_response_body() {
  set_deadline(DeadlineKind::upstream, snapshot_->config.timeouts.upstream_body);
  upstream_->transport.async_read_some(asio::buffer(upstream_in_.write_ptr(), upstream_in_.space()),
                                       APIMETER_UPSTREAM_HANDLER(on_read_response_body));
}

void DownstreamConnection::on_read_response_body(const ErrorCode& ec, std::size_t n) {
  if (ec) {
    if (ec == asio::error::eof && response_.framing == BodyFraming::until_close) {
      // Reads follow completed writes, so everything read before the end is already sent.
      exchange_.upstream_reusable = false;
      mark_response_read();
      exchange_.response_done = true;
      return maybe_complete();
    }
    // The body broke off: end the client connection so the truncation is visible.
    return fail(ProxyError::upstream_closed_mid_body);
  }
  upstream_in_.end += n;
  send_response_part(take_response_body(upstream_in_.read_ptr(), upstream_in_.size()));
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
  write_client_response_head(response_, context, writer);
  if (writer.overflowed()) return fail(ProxyError::upstream_bad_response);
  upstream_in_.begin += response_.head_bytes;
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
    return upstream_->transport.async_read_some(into, APIMETER_UPSTREAM_HANDLER(on_upstream_tunnel_read));
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
    if (from_client ? upstream_->transport.secure() : transport_.secure()) return finish_tunnel();
    tunnel_done_[from_client ? 0 : 1] = true;
    ErrorCode ignored;
    (from_client ? upstream_->transport.socket() : transport_.socket()).shutdown(tcp::socket::shutdown_send, ignored);
    if (tunnel_done_[0] && tunnel_done_[1]) finish_tunnel();
    return;
  }
  buffer.end += n;
  (from_client ? exchange_.record.received_bytes : exchange_.record.sent_bytes) += buffer.size();
  set_deadline(DeadlineKind::client, snapshot_->config.timeouts.tunnel_idle);
  const auto from = asio::buffer(buffer.read_ptr(), buffer.size());
  if (from_client)
    return upstream_->transport.async_write(from, APIMETER_UPSTREAM_HANDLER(on_upstream_tunnel_write));
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
  give_up_upstream();
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
  exchange_.record.done = Clock::now();
  worker_.complete(exchange_.record, exchange_.extra_labels);
  if (exchange_.user_token.monitored()) worker_.metrics().user_finished(exchange_.user_token);
  exchange_.user_token = {};
  worker_.request_finished();
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
    release_upstream(true);
  } else {
    give_up_upstream();
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
  deadlines_.fill(Clock::time_point::max());
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
  timer_.cancel();
  release_upstream(false);
  // A client read or write still in flight (cancelled, but over TLS possibly about to decrypt into or
  // encrypt from its buffer) keeps the buffers: they are freed with the connection, never reused early.
  release_buffer(client_in_);
  release_buffer(head_out_);
  release_buffer(upstream_in_);
  worker_.connection_closed(*this);
}

void DownstreamConnection::give_up_upstream() noexcept {
  RequestRecord& r = exchange_.record;
  // The upstream leg ends here, not with the reply or the cut that follows.
  if (r.upstream_leg().happened() && r.upstream_done == Clock::time_point{} && r.upstream_given_up == Clock::time_point{})
    r.upstream_given_up = Clock::now();
  release_upstream(false);
}

void DownstreamConnection::release_upstream(bool reusable) noexcept {
  if (!upstream_) return;
  worker_.upstream_released();
  if (reusable) {
    worker_.upstreams().put(std::move(upstream_));
  } else {
    ErrorCode ignored;
    upstream_->transport.socket().close(ignored);
  }
  upstream_.reset();
  upstream_state_ = UpstreamState::none;
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
  deadlines_[static_cast<std::size_t>(kind)] =
      timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
  arm_timer();
}

void DownstreamConnection::clear_deadline(DeadlineKind kind) noexcept {
  // Lazy: the timer may still fire for it and will find nothing due.
  deadlines_[static_cast<std::size_t>(kind)] = Clock::time_point::max();
}

void DownstreamConnection::arm_timer() noexcept {
  Clock::time_point next = *std::min_element(deadlines_.begin(), deadlines_.end());
  if (next == Clock::time_point::max() || next >= timer_expiry_) return;
  timer_expiry_ = next;
  timer_.expires_at(next);
  timer_.async_wait([self = shared_from_this()](const ErrorCode& ec) { self->on_timer(ec); });
}

void DownstreamConnection::on_timer(const ErrorCode& ec) {
  if (ec == asio::error::operation_aborted || phase_ == Phase::closed) return;
  timer_expiry_ = Clock::time_point::max();
  auto now = Clock::now();
  for (std::size_t k = 0; k < deadlines_.size(); ++k) {
    if (deadlines_[k] > now) continue;
    deadlines_[k] = Clock::time_point::max();
    on_deadline(static_cast<DeadlineKind>(k));
    if (phase_ == Phase::closed) return;
  }
  arm_timer();
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
      switch (upstream_state_) {
        case UpstreamState::connecting:
        case UpstreamState::handshaking:
          count_connect_error(upstream_state_ == UpstreamState::connecting ? "timeout" : "tls_timeout");
          return fail(ProxyError::upstream_connect_timeout);
        case UpstreamState::sending:
        case UpstreamState::awaiting_head:
          return fail(ProxyError::upstream_response_timeout);
        case UpstreamState::body:
          return fail(ProxyError::upstream_body_timeout);
        case UpstreamState::none:
          return;
      }
      return;
    case DeadlineKind::request:
      if (phase_ == Phase::exchange) fail(ProxyError::request_timeout);
      return;
    case DeadlineKind::kCount:
      return;
  }
}

}  // namespace apimeter
