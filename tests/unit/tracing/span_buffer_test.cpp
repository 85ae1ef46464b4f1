// The per-worker span queue (cap on queued spans, ring room, drops, a producer and a consumer thread) and
// WorkerTracer: starting a request's trace context and queueing its spans.
#include "tracing/span_buffer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "proto_test_support.hpp"
#include "tracing/worker_tracer.hpp"

namespace apimeter::tracing {
namespace {

using namespace std::chrono_literals;

// --- SpanBuffer ------------------------------------------------------------------------------------

TEST(SpanBuffer, SubmitBeyondMaxSpansIsDroppedAndCounted) {
  SpanBuffer buffer(4096, 3);
  EXPECT_TRUE(buffer.submit("aa", 2));
  EXPECT_EQ(buffer.queued(), 2u);
  EXPECT_FALSE(buffer.submit("bb", 2));  // 2 + 2 > 3: the whole request is dropped
  EXPECT_EQ(buffer.dropped(), 2u);
  EXPECT_EQ(buffer.queued(), 2u);
  EXPECT_TRUE(buffer.submit("c", 1));
  EXPECT_EQ(buffer.queued(), 3u);
  EXPECT_FALSE(buffer.submit("d", 1));
  EXPECT_EQ(buffer.dropped(), 3u);

  std::string out;
  EXPECT_EQ(buffer.drain_into(out), 3u);
  EXPECT_EQ(out, "aac");  // dropped records left nothing behind
}

TEST(SpanBuffer, DrainedSpansFreeRoomUnderTheCap) {
  SpanBuffer buffer(4096, 2);
  ASSERT_TRUE(buffer.submit("one", 2));
  ASSERT_FALSE(buffer.submit("two", 1));
  std::string out;
  buffer.drain_into(out);
  EXPECT_EQ(buffer.queued(), 2u);  // draining bytes alone does not free span slots
  EXPECT_FALSE(buffer.submit("two", 1));
  buffer.drained(2);
  EXPECT_EQ(buffer.queued(), 0u);
  EXPECT_TRUE(buffer.submit("two", 1));
  EXPECT_EQ(buffer.queued(), 1u);
  EXPECT_EQ(buffer.dropped(), 2u);
}

TEST(SpanBuffer, LoweringMaxSpansAppliesToTheNextSubmit) {
  SpanBuffer buffer(4096, 10);
  ASSERT_TRUE(buffer.submit("x", 1));
  buffer.set_max_spans(1);
  EXPECT_FALSE(buffer.submit("y", 1));
  EXPECT_EQ(buffer.dropped(), 1u);
}

TEST(SpanBuffer, RecordLargerThanTheRingIsDropped) {
  SpanBuffer buffer(16, 100);
  EXPECT_FALSE(buffer.submit(std::string(17, 'r'), 1));
  EXPECT_EQ(buffer.dropped(), 1u);
  EXPECT_EQ(buffer.queued(), 0u);
  EXPECT_TRUE(buffer.submit(std::string(16, 'r'), 1));  // exactly the ring's size fits
  EXPECT_FALSE(buffer.submit("s", 1));                  // and then nothing more until drained
  std::string out;
  EXPECT_EQ(buffer.drain_into(out), 16u);
  buffer.drained(1);
  EXPECT_TRUE(buffer.submit("s", 1));
}

TEST(SpanBuffer, RecordsWrappingAroundTheRingComeOutWhole) {
  SpanBuffer buffer(10, 100);
  std::string out;
  std::string expected;
  for (int i = 0; i < 20; ++i) {
    const std::string record = std::string(1 + i % 7, static_cast<char>('a' + i));
    ASSERT_TRUE(buffer.submit(record, 1)) << i;
    expected += record;
    buffer.drain_into(out);
    buffer.drained(1);
  }
  EXPECT_EQ(out, expected);
  EXPECT_EQ(buffer.dropped(), 0u);
}

// A worker thread producing, the exporter thread draining: every record arrives whole and in order.
TEST(SpanBuffer, ProducerAndConsumerThreadsPassEveryByteInOrder) {
  constexpr std::uint32_t kRecords = 100'000;
  constexpr std::uint64_t kMaxAttempts = 50'000'000;  // a bound, far above what a healthy run needs
  SpanBuffer buffer(1024, 64);

  // Record i: its 4-byte little-endian index, then (i % 13) bytes derived from it.
  auto record_of = [](std::uint32_t i, std::string& out) {
    out.clear();
    for (int b = 0; b < 4; ++b) out += static_cast<char>(i >> (8 * b) & 0xff);
    out.append(i % 13, static_cast<char>('A' + i % 26));
  };

  bool producer_gave_up = false;
  std::atomic<bool> consumer_stopped{false};
  std::thread producer([&] {
    std::string record;
    std::uint64_t attempts = 0;
    for (std::uint32_t i = 0; i < kRecords; ++i) {
      record_of(i, record);
      while (!buffer.submit(record, 1)) {
        if (++attempts > kMaxAttempts || consumer_stopped.load(std::memory_order_relaxed)) {
          producer_gave_up = true;
          return;
        }
        std::this_thread::yield();
      }
    }
  });

  std::string received;
  std::string expected;
  std::uint32_t next = 0;
  std::size_t at = 0;
  bool in_order = true;
  for (std::uint64_t attempts = 0; next < kRecords && in_order && attempts < kMaxAttempts; ++attempts) {
    if (buffer.drain_into(received) == 0) {
      std::this_thread::yield();
      continue;
    }
    // Records are pushed whole, so a drain ends on a record boundary.
    std::uint64_t spans = 0;
    while (at < received.size()) {
      record_of(next, expected);
      if (received.compare(at, expected.size(), expected) != 0) {
        ADD_FAILURE() << "record " << next << " differs at byte " << at;
        in_order = false;
        break;
      }
      at += expected.size();
      ++next;
      ++spans;
    }
    buffer.drained(spans);
    if (at > (1u << 20)) {  // keep memory flat
      received.erase(0, at);
      at = 0;
    }
  }
  consumer_stopped.store(true, std::memory_order_relaxed);
  producer.join();
  EXPECT_FALSE(producer_gave_up);
  EXPECT_TRUE(in_order);
  EXPECT_EQ(next, kRecords);
  EXPECT_EQ(at, received.size());
  EXPECT_EQ(buffer.queued(), 0u);
}

// --- WorkerTracer ----------------------------------------------------------------------------------

constexpr std::string_view kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr TraceId kTraceId{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                           0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
constexpr SpanId kParentSpanId{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};

TracingSettings enabled_settings(SamplerKind kind = SamplerKind::parentbased_always_on) {
  TracingSettings s;
  s.enabled = true;
  s.sampler.kind = kind;
  return s;
}

IncomingTraceHeaders sampled_parent_headers() {
  IncomingTraceHeaders h;
  h.traceparent = kTraceparent;
  h.traceparent_count = 1;
  h.tracestate = "rojo=00f067aa0ba902b7";
  return h;
}

// WorkerTracer carries a span scratch buffer; keep it off the test's stack.
struct Tracer {
  SpanBuffer buffer{64 * 1024, 100};
  std::unique_ptr<WorkerTracer> tracer = std::make_unique<WorkerTracer>(buffer);
};

TEST(WorkerTracer, DisabledTracingLeavesTheTraceInactive) {
  Tracer t;
  TraceContext trace;
  trace.active = true;  // whatever was there before is reset
  trace.sampled = true;
  t.tracer->begin(TracingSettings{}, sampled_parent_headers(), trace);
  EXPECT_FALSE(trace.active);
  EXPECT_FALSE(trace.sampled);
  EXPECT_EQ(trace.trace_id, TraceId{});
  EXPECT_EQ(trace.parent, ParentFormat::none);
}

TEST(WorkerTracer, SampledTraceparentKeepsTraceIdAndParentWithNewSpanIds) {
  Tracer t;
  TraceContext trace;
  t.tracer->begin(enabled_settings(SamplerKind::parentbased_always_off), sampled_parent_headers(), trace);
  EXPECT_TRUE(trace.active);
  EXPECT_TRUE(trace.sampled);  // the parent's decision, not the root sampler's
  EXPECT_EQ(trace.trace_id, kTraceId);
  EXPECT_EQ(trace.parent_span_id, kParentSpanId);
  EXPECT_EQ(trace.parent, ParentFormat::w3c);
  EXPECT_EQ(trace.tracestate, "rojo=00f067aa0ba902b7");
  EXPECT_NE(trace.server_span_id, SpanId{});
  EXPECT_NE(trace.client_span_id, SpanId{});
  EXPECT_NE(trace.server_span_id, trace.client_span_id);
  EXPECT_NE(trace.server_span_id, kParentSpanId);
  EXPECT_NE(trace.client_span_id, kParentSpanId);
}

TEST(WorkerTracer, EachRequestGetsNewSpanIds) {
  Tracer t;
  TraceContext first, second;
  t.tracer->begin(enabled_settings(), sampled_parent_headers(), first);
  t.tracer->begin(enabled_settings(), sampled_parent_headers(), second);
  EXPECT_EQ(first.trace_id, second.trace_id);
  EXPECT_NE(first.server_span_id, second.server_span_id);
  EXPECT_NE(first.client_span_id, second.client_span_id);
}

TEST(WorkerTracer, RootWithAlwaysOffIsActiveButNotSampled) {
  Tracer t;
  TraceContext trace;
  t.tracer->begin(enabled_settings(SamplerKind::always_off), IncomingTraceHeaders{}, trace);
  EXPECT_TRUE(trace.active);
  EXPECT_FALSE(trace.sampled);
  EXPECT_NE(trace.trace_id, TraceId{});
  EXPECT_EQ(trace.parent_span_id, SpanId{});
  EXPECT_EQ(trace.parent, ParentFormat::none);
  EXPECT_NE(trace.server_span_id, SpanId{});
  EXPECT_NE(trace.server_span_id, trace.client_span_id);
}

TEST(WorkerTracer, RootsGetDistinctTraceIds) {
  Tracer t;
  TraceContext first, second;
  t.tracer->begin(enabled_settings(), IncomingTraceHeaders{}, first);
  t.tracer->begin(enabled_settings(), IncomingTraceHeaders{}, second);
  EXPECT_NE(first.trace_id, second.trace_id);
  EXPECT_TRUE(first.sampled);
}

RequestRecord finished_record(const TraceContext& trace, int status) {
  RequestRecord r;
  r.head_started = Clock::time_point{} + 1h;
  r.done = r.head_started + 3ms;
  r.upstream_started = r.head_started + 1ms;
  r.upstream_connected = r.head_started + 1ms;
  r.upstream_done = r.head_started + 2ms;
  r.upstream_address = "127.0.0.1:9000";
  r.method = "GET";
  r.path = r.target = "/health";
  r.status = status;
  r.upstream_status = status;
  r.trace = trace;
  return r;
}

TEST(WorkerTracer, DecideExportFollowsHeadThenTailRules) {
  Tracer t;
  TracingSettings settings = enabled_settings(SamplerKind::always_off);
  TraceContext trace;
  t.tracer->begin(settings, IncomingTraceHeaders{}, trace);
  EXPECT_FALSE(t.tracer->decide_export(settings, finished_record(trace, 502)));
  settings.tail_errors = true;
  EXPECT_TRUE(t.tracer->decide_export(settings, finished_record(trace, 502)));
  EXPECT_FALSE(t.tracer->decide_export(settings, finished_record(trace, 200)));
  settings.tail_latency = 3ms;
  EXPECT_TRUE(t.tracer->decide_export(settings, finished_record(trace, 200)));
  settings.tail_latency = 4ms;
  EXPECT_FALSE(t.tracer->decide_export(settings, finished_record(trace, 200)));

  TraceContext inactive;  // tracing was off for this exchange
  EXPECT_FALSE(t.tracer->decide_export(settings, finished_record(inactive, 502)));
}

TEST(WorkerTracer, SubmitQueuesBothSpansInTheBuffer) {
  Tracer t;
  const TracingSettings settings = enabled_settings();
  TraceContext trace;
  t.tracer->begin(settings, sampled_parent_headers(), trace);
  const RequestRecord record = finished_record(trace, 200);
  ASSERT_TRUE(t.tracer->decide_export(settings, record));
  ASSERT_TRUE(t.tracer->submit(settings, record, SpanInputs{"/health", ""}));
  EXPECT_EQ(t.buffer.queued(), 2u);

  std::string out;
  ASSERT_GT(t.buffer.drain_into(out), 0u);
  const auto frames = testing::split_frames(out);
  ASSERT_EQ(frames.size(), 2u);
  const testing::Message server(frames[0]);
  EXPECT_EQ(server.bytes(1), testing::bytes_of(kTraceId));
  EXPECT_EQ(server.bytes(2), testing::bytes_of(trace.server_span_id));
  EXPECT_EQ(server.bytes(4), testing::bytes_of(kParentSpanId));
  EXPECT_EQ(server.bytes(5), "GET /health");
  const testing::Message client(frames[1]);
  EXPECT_EQ(client.bytes(2), testing::bytes_of(trace.client_span_id));
  EXPECT_EQ(client.bytes(4), testing::bytes_of(trace.server_span_id));
}

TEST(WorkerTracer, SubmitIntoAFullBufferIsDropped) {
  SpanBuffer buffer(64 * 1024, 1);  // room for one span: a request with two is refused whole
  auto tracer = std::make_unique<WorkerTracer>(buffer);
  const TracingSettings settings = enabled_settings();
  TraceContext trace;
  tracer->begin(settings, IncomingTraceHeaders{}, trace);
  EXPECT_FALSE(tracer->submit(settings, finished_record(trace, 200), SpanInputs{}));
  EXPECT_EQ(buffer.dropped(), 2u);
  EXPECT_EQ(buffer.queued(), 0u);
}

}  // namespace
}  // namespace apimeter::tracing
