// The tracing side of one worker: starts a request's trace context from what the client sent (new ids,
// head sampling) and, in the complete step, decides whether its spans are exported and queues them.
// Worker thread only; no allocation, no syscall.
#pragma once

#include <array>

#include "common/request_record.hpp"
#include "tracing/id_generator.hpp"
#include "tracing/span_buffer.hpp"
#include "tracing/span_encoder.hpp"
#include "tracing/trace_propagation.hpp"
#include "tracing/tracing_settings.hpp"

namespace apimeter::tracing {

class WorkerTracer {
 public:
  explicit WorkerTracer(SpanBuffer& buffer) : buffer_(buffer) {}

  // After the request head: the trace context the exchange runs under (record.trace).
  void begin(const TracingSettings& settings, const IncomingTraceHeaders& headers, TraceContext& out) noexcept;
  // Complete step, first: whether the spans will be exported (head decision, else the tail rules).
  bool decide_export(const TracingSettings& settings, const RequestRecord& record) const noexcept;
  // Complete step, once decide_export said yes: encodes and queues the spans; false when dropped.
  bool submit(const TracingSettings& settings, const RequestRecord& record, const SpanInputs& inputs) noexcept;

 private:
  SpanBuffer& buffer_;
  IdGenerator ids_;
  std::array<char, kSpanScratchBytes> scratch_{};
};

}  // namespace apimeter::tracing
