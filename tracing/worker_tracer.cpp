// Per-worker trace start and span hand-off.
#include "tracing/worker_tracer.hpp"

namespace apimeter::tracing {

void WorkerTracer::begin(const TracingSettings& settings, const IncomingTraceHeaders& headers,
                         TraceContext& out) noexcept {
  out = TraceContext{};
  if (!settings.enabled) return;
  const ParentContext parent = extract_parent(headers);
  out.active = true;
  out.trace_id = parent.has_ids ? parent.trace_id : ids_.trace_id();
  if (parent.has_ids) {
    out.parent_span_id = parent.span_id;
    out.parent = parent.format;
    out.tracestate = parent.tracestate;
  }
  out.server_span_id = ids_.span_id();
  out.client_span_id = ids_.span_id();
  out.sampled = should_sample(settings.sampler, parent, out.trace_id);
}

bool WorkerTracer::decide_export(const TracingSettings& settings, const RequestRecord& r) const noexcept {
  if (!r.trace.active) return false;
  const auto duration = r.head_started != Clock::time_point{} && r.done != Clock::time_point{}
                            ? std::chrono::duration_cast<std::chrono::nanoseconds>(r.total())
                            : std::chrono::nanoseconds::zero();
  return should_export(settings, r.trace.sampled, r.status, !r.error_type.empty(), duration);
}

bool WorkerTracer::submit(const TracingSettings& settings, const RequestRecord& record,
                          const SpanInputs& inputs) noexcept {
  std::size_t spans = 0;
  const std::size_t n = encode_spans(record, settings, inputs, scratch_.data(), scratch_.size(), spans);
  if (n == 0) return false;
  return buffer_.submit(std::string_view(scratch_.data(), n), spans);
}

}  // namespace apimeter::tracing
