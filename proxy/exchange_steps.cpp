// The protocol-independent steps of an exchange (exchange_steps.hpp).
#include "proxy/exchange_steps.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "proxy/router.hpp"
#include "proxy/snapshot.hpp"
#include "proxy/worker.hpp"
#include "tracing/trace_propagation.hpp"

namespace apimeter {
namespace {

void identify_request(Worker& worker, const Snapshot& snapshot, const MessageHead& request,
                      const ClientPeer& client, Exchange& exchange) noexcept {
  if (!worker.metrics_enabled()) return;
  const metrics::MetricsSettings& settings = *snapshot.metrics;
  auto header = [&request](std::string_view name) -> std::string_view {
    for (const HeaderField& field : request.fields)
      if (iequals(field.name, name)) return field.value;
    return {};
  };
  if (settings.user_source.kind != metrics::UserIdentitySource::Kind::none) {
    const metrics::PeerIdentity peer{client.address, client.certificate_subject};
    std::string_view user =
        metrics::extract_user(settings.user_source, header, peer, worker.identity_scratch());
    // Ids longer than the buffer are cut; they stay distinct enough for a heavy-hitter list. No identity
    // is an empty view that may have no data at all, so nothing is copied then.
    std::size_t n = std::min(user.size(), exchange.user.size());
    if (n > 0) {
      std::memcpy(exchange.user.data(), user.data(), n);
      exchange.record.user = std::string_view(exchange.user.data(), n);
      if (settings.top_users > 0) exchange.user_token = worker.metrics().user_started(exchange.record.user);
    }
  }
  if (!settings.extra_labels.empty())
    metrics::extract_extra_labels(settings.extra_labels, header, request.target, exchange.extra_labels);
}

void begin_trace(Worker& worker, const Snapshot& snapshot, const MessageHead& request,
                 Exchange& exchange) noexcept {
  if (!snapshot.tracing.enabled) return;
  tracing::IncomingTraceHeaders headers;
  for (const HeaderField& field : request.fields) {
    switch (field.id) {
      case FieldId::traceparent:
        headers.traceparent = field.value;
        ++headers.traceparent_count;
        break;
      case FieldId::tracestate:
        if (headers.tracestate.empty()) headers.tracestate = field.value;
        break;
      case FieldId::b3:
        headers.b3 = field.value;
        break;
      case FieldId::x_b3_trace_id:
        headers.b3_trace_id = field.value;
        break;
      case FieldId::x_b3_span_id:
        headers.b3_span_id = field.value;
        break;
      case FieldId::x_b3_sampled:
        headers.b3_sampled = field.value;
        break;
      case FieldId::x_b3_flags:
        headers.b3_flags = field.value;
        break;
      default:
        break;
    }
  }
  worker.tracer().begin(snapshot.tracing, headers, exchange.record.trace);
}

}  // namespace

void begin_exchange(Worker& worker, const Snapshot& snapshot, const MessageHead& request,
                    const ClientPeer& peer, Exchange& exchange) noexcept {
  RequestRecord& record = exchange.record;
  record.head_read = Clock::now();
  record.method = request.method;
  record.target = request.target;
  record.path = request.path;
  record.host = request.target_form == TargetForm::absolute ? request.authority : request.host;
  if (const HeaderField* ua = request.find(FieldId::user_agent)) record.user_agent = ua->value;
  exchange.route = snapshot.router.match(request.method, request.path);
  if (exchange.route) {
    record.route_index = static_cast<std::int32_t>(exchange.route->index);
    const auto& labels = snapshot.metrics->route_labels;
    record.route_label = exchange.route->index < labels.size()
                             ? std::string_view(labels[exchange.route->index])
                             : std::string_view(exchange.route->label);
  }
  identify_request(worker, snapshot, request, peer, exchange);
  begin_trace(worker, snapshot, request, exchange);
}

void write_exchange_request_head(const Snapshot& snapshot, const MessageHead& request,
                                 const Exchange& exchange, const ClientPeer& peer, bool upgrade,
                                 HeadWriter& writer) noexcept {
  UpstreamRequestContext context;
  context.client_ip = peer.address;
  context.scheme = exchange.record.scheme;
  context.trust_forwarded_headers = snapshot.config.trust_forwarded_headers;
  context.upgrade = upgrade;
  // The upstream continues our trace under the CLIENT span: traceparent (and B3 when asked) name it.
  // The values are copied into the head as it is written, so they may live on the stack.
  std::array<std::string_view, 10> trace_fields;
  std::size_t trace_field_count = 0;
  std::array<char, tracing::kTraceparentLength> traceparent;
  std::array<char, 64> b3;
  const TraceContext& trace = exchange.record.trace;
  if (trace.active) {
    auto add = [&](std::string_view name, std::string_view value) {
      trace_fields[trace_field_count * 2] = name;
      trace_fields[trace_field_count * 2 + 1] = value;
      ++trace_field_count;
    };
    tracing::format_traceparent(trace.trace_id, trace.client_span_id, trace.sampled, traceparent);
    add("traceparent", {traceparent.data(), traceparent.size()});
    const tracing::B3Emit b3_emit = snapshot.tracing.emit_b3;
    if (b3_emit == tracing::B3Emit::single) {
      tracing::format_b3_single(
          trace.trace_id, trace.client_span_id, trace.sampled,
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
  write_upstream_request_head(request, context, writer);
}

void complete_exchange(Worker& worker, Exchange& exchange) noexcept {
  exchange.record.done = Clock::now();
  worker.complete(exchange.record, exchange.extra_labels);
  if (exchange.user_token.monitored()) worker.metrics().user_finished(exchange.user_token);
  exchange.user_token = {};
  worker.request_finished();
}

}  // namespace apimeter
