// Tracing end to end: the real apimeter between a demo upstream and a scriptable OTLP collector
// (test_collector.hpp). Spans are decoded by the OpenTelemetry project's own decoder, the upstream's echo
// shows what was propagated, /metrics shows the exporter's counters and the exemplars, and a real
// Prometheus stores the exemplars. No fixed ports; every wait is bounded.
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <set>

#include "tests/integration/harness.hpp"
#include "tests/integration/otlp_decode.hpp"
#include "tests/integration/test_collector.hpp"
#include "tests/support/test_pki.hpp"

namespace apimeter::test {
namespace {

constexpr Millis kSpanWait = 15s;
// How long a test watches for something that must NOT happen: many export cycles at the 20 ms batch delay
// the tests configure.
constexpr Millis kQuietPeriod = 500ms;

constexpr std::string_view kClientTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kClientSpan = "00f067aa0ba902b7";
constexpr std::string_view kOpenMetricsAccept =
    "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n";

std::string traceparent_header(std::string_view trace, std::string_view span, std::string_view flags) {
  return "traceparent: 00-" + std::string(trace) + "-" + std::string(span) + "-" + std::string(flags) +
         "\r\n";
}

bool lower_hex(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

struct Traceparent {
  std::string trace_id;
  std::string parent_id;
  std::string flags;
};

// A version-00 traceparent as the upstream received it; nullopt when it is not one.
std::optional<Traceparent> split_traceparent(std::string_view value) {
  if (value.size() != 55 || !value.starts_with("00-") || value[35] != '-' || value[52] != '-')
    return std::nullopt;
  Traceparent out{std::string(value.substr(3, 32)), std::string(value.substr(36, 16)),
                  std::string(value.substr(53, 2))};
  if (!lower_hex(out.trace_id) || !lower_hex(out.parent_id) || !lower_hex(out.flags)) return std::nullopt;
  if (out.trace_id == std::string(32, '0') || out.parent_id == std::string(16, '0')) return std::nullopt;
  return out;
}

// The traceparent the upstream received for a /headers request, or nullopt (the response says why).
std::optional<Traceparent> upstream_traceparent(const HttpResponse& response) {
  auto value = echoed_header(response.body, "traceparent");
  return value ? split_traceparent(*value) : std::nullopt;
}

// Flags every tracing test starts from: tracing on, spans to `collector`, short batches.
std::vector<std::string> tracing_args(const TestCollector& collector, std::vector<std::string> more = {}) {
  std::vector<std::string> args{"--tracing-enabled",     "true", "--tracing-endpoint", collector.endpoint(),
                                "--tracing-batch-delay", "20ms"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// The SERVER span and its CLIENT child of one request.
struct RequestSpans {
  std::optional<ExportedSpan> server;
  std::optional<ExportedSpan> client;
  std::string all;  // every span of the trace, for failure messages
};

// Waits until the collector accepted both spans of trace `trace_id` (one request in that trace).
RequestSpans wait_for_request_spans(TestCollector& collector, std::string_view trace_id,
                                    std::size_t expected = 2) {
  std::vector<ExportedSpan> spans = collector.wait_for_spans(
      expected, kSpanWait, [&](const ExportedSpan& s) { return s.trace_id == trace_id; });
  RequestSpans out;
  out.all = describe_spans(spans) + collector.decode_errors();
  for (const auto& span : spans) {
    if (span.is_server()) out.server = span;
    if (span.is_client()) out.client = span;
  }
  return out;
}

// The value of a tracing self-metric, 0 when the scrape has no such sample.
double metric(const MetricsText& metrics, std::string_view name, const MetricLabels& match = {}) {
  return metrics.sum(name, match);
}

constexpr std::string_view kExported = "apimeter_tracing_spans_exported_total";
constexpr std::string_view kDropped = "apimeter_tracing_spans_dropped_total";
constexpr std::string_view kExportRequests = "apimeter_tracing_export_requests_total";
constexpr std::string_view kQueue = "apimeter_tracing_queue_spans";

// A demo upstream and an apimeter started with `env` added to its environment (start_stack passes none).
Stack start_stack_with_env(std::vector<std::string> args, std::vector<std::string> env) {
  Stack stack;
  stack.upstream = start_demo_upstream();
  std::vector<std::string> all{"--upstream", stack.upstream.address()};
  all.insert(all.end(), args.begin(), args.end());
  stack.proxy = start_apimeter(std::move(all), std::move(env));
  return stack;
}

// ---- Spans and propagation -------------------------------------------------------------------------

TEST(TracingTest, ServerAndClientSpansCarryTheHttpSemanticConventions) {
  TestCollector collector;
  Stack stack = start_stack(
      tracing_args(collector, {"--user-identity-source", "header", "--tracing-capture-query", "true"}));
  const std::string tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
  std::string request =
      "GET /headers?color=red HTTP/1.1\r\nHost: shop.example:8443\r\nUser-Agent: itest/1.0\r\n"
      "X-User-Id: alice\r\n" +
      traceparent_header(kClientTrace, kClientSpan, "01") + "tracestate: " + tracestate + "\r\n\r\n";
  HttpResponse response = round_trip(stack.port(), request);
  ASSERT_EQ(response.status, 200) << response.error;

  // The upstream continues the client's trace under our CLIENT span, sampled, with the tracestate intact.
  EXPECT_EQ(echoed_header_count(response.body, "traceparent"), 1u) << response.body;
  auto sent = upstream_traceparent(response);
  ASSERT_TRUE(sent.has_value()) << response.body;
  EXPECT_EQ(sent->trace_id, kClientTrace);
  EXPECT_EQ(sent->flags, "01");
  EXPECT_NE(sent->parent_id, kClientSpan) << "the upstream must see our span, not the client's";
  EXPECT_EQ(echoed_header(response.body, "tracestate"), tracestate) << response.body;

  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;
  const ExportedSpan& server = *spans.server;
  const ExportedSpan& client = *spans.client;

  EXPECT_EQ(server.name, "GET /headers");
  EXPECT_EQ(server.parent_span_id, kClientSpan);
  EXPECT_EQ(server.trace_state, tracestate);
  EXPECT_EQ(client.trace_state, tracestate);
  EXPECT_EQ(server.flags & 0x1, 1u) << "sampled flag";
  EXPECT_EQ(server.attribute("http.request.method"), "GET");
  EXPECT_EQ(server.attribute("url.path"), "/headers");
  EXPECT_EQ(server.attribute("url.scheme"), "http");
  EXPECT_EQ(server.attribute("url.query"), "color=red");
  EXPECT_EQ(server.attribute("http.route"), "/headers");
  EXPECT_EQ(server.attribute("http.response.status_code"), "200");
  EXPECT_EQ(server.attribute_type("http.response.status_code"), "int");
  EXPECT_EQ(server.attribute("server.address"), "shop.example");
  EXPECT_EQ(server.attribute("server.port"), "8443");
  EXPECT_EQ(server.attribute_type("server.port"), "int");
  EXPECT_EQ(server.attribute("client.address"), "127.0.0.1");
  ASSERT_TRUE(server.attribute("client.port").has_value()) << server.describe();
  EXPECT_GT(std::stoul(*server.attribute("client.port")), 0u);
  EXPECT_EQ(server.attribute("user_agent.original"), "itest/1.0");
  EXPECT_EQ(server.attribute("network.protocol.version"), "1.1");
  EXPECT_EQ(server.attribute("http.request.body.size"), "0");
  EXPECT_EQ(server.attribute("http.response.body.size"), std::to_string(response.body.size()));
  EXPECT_EQ(server.attribute("user.id"), "alice");
  EXPECT_FALSE(server.attribute("error.type").has_value()) << server.describe();
  EXPECT_EQ(server.status_code, "") << server.describe();
  EXPECT_LE(server.start_unix_nano, server.end_unix_nano);

  // The CLIENT span is the one the upstream was told about, a child of the SERVER span, inside it in time.
  EXPECT_EQ(client.span_id, sent->parent_id);
  EXPECT_EQ(client.parent_span_id, server.span_id);
  EXPECT_EQ(client.attribute("http.request.method"), "GET");
  EXPECT_EQ(client.attribute("server.address"), "127.0.0.1");
  EXPECT_EQ(client.attribute("server.port"), std::to_string(stack.upstream.port));
  EXPECT_EQ(client.attribute("url.full"), "http://" + stack.upstream.address() + "/headers?color=red");
  EXPECT_EQ(client.attribute("http.response.status_code"), "200");
  EXPECT_EQ(client.attribute("network.protocol.version"), "1.1");
  EXPECT_EQ(client.attribute_type("apimeter.upstream.reused"), "bool");
  EXPECT_FALSE(client.attribute("error.type").has_value()) << client.describe();
  EXPECT_EQ(client.status_code, "") << client.describe();
  EXPECT_GE(client.start_unix_nano, server.start_unix_nano);
  EXPECT_LE(client.end_unix_nano, server.end_unix_nano);
  auto connected = client.event_time("upstream.connected");
  auto first_byte = client.event_time("upstream.first_byte");
  ASSERT_TRUE(connected && first_byte) << client.describe();
  EXPECT_GE(*connected, client.start_unix_nano);
  EXPECT_LE(*connected, *first_byte);
  EXPECT_LE(*first_byte, client.end_unix_nano);

  // One resource and scope describe both.
  EXPECT_EQ(server.resource.count("service.name"), 1u);
  EXPECT_EQ(server.scope_name, "apimeter");
  EXPECT_EQ(server.resource, client.resource);
  EXPECT_TRUE(collector.decode_errors().empty()) << collector.decode_errors();
}

TEST(TracingTest, RequestWithoutTraceContextStartsANewSampledRootTrace) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector));
  HttpResponse response = round_trip(stack.port(), get_request("/headers"));
  ASSERT_EQ(response.status, 200) << response.error;
  auto sent = upstream_traceparent(response);
  ASSERT_TRUE(sent.has_value()) << response.body;
  EXPECT_EQ(sent->flags, "01") << "the default sampler takes every root trace";
  EXPECT_FALSE(echoed_header(response.body, "tracestate").has_value()) << response.body;

  RequestSpans spans = wait_for_request_spans(collector, sent->trace_id);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;
  EXPECT_EQ(spans.server->parent_span_id, "") << "a root span has no parent";
  EXPECT_EQ(spans.server->trace_state, "");
  EXPECT_EQ(spans.client->span_id, sent->parent_id);
  EXPECT_EQ(spans.client->parent_span_id, spans.server->span_id);
}

TEST(TracingTest, BodySizesAreRecordedAndTheQueryIsLeftOutByDefault) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector));
  const std::string body(1000, 'b');
  HttpResponse response = round_trip(
      stack.port(),
      body_request("POST", "/echo?token=secret", body, traceparent_header(kClientTrace, kClientSpan, "01")));
  ASSERT_EQ(response.status, 200) << response.error;
  ASSERT_EQ(response.body, body);

  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;
  EXPECT_EQ(spans.server->name, "POST /echo");
  EXPECT_EQ(spans.server->attribute("http.request.method"), "POST");
  EXPECT_EQ(spans.server->attribute("http.request.body.size"), "1000");
  EXPECT_EQ(spans.server->attribute("http.response.body.size"), "1000");
  EXPECT_FALSE(spans.server->attribute("url.query").has_value()) << spans.server->describe();
  EXPECT_EQ(spans.client->attribute("url.full"), "http://" + stack.upstream.address() + "/echo");
  for (const auto& [key, value] : spans.server->attributes)
    EXPECT_EQ(value.find("secret"), std::string::npos) << key << " leaks the query: " << value;
}

TEST(TracingTest, InvalidTraceparentStartsANewTraceAndIsNotAnError) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector));
  const std::string upper = "4BF92F3577B34DA6A3CE929D0E0E4736";
  const std::vector<std::string> invalid{
      traceparent_header(upper, kClientSpan, "01"),                  // uppercase hex
      traceparent_header(std::string(32, '0'), kClientSpan, "01"),   // all-zero trace id
      traceparent_header(kClientTrace, std::string(16, '0'), "01"),  // all-zero parent id
      "traceparent: ff-" + std::string(kClientTrace) + "-" + std::string(kClientSpan) +
          "-01\r\n",  // version ff
      "traceparent: 00-" + std::string(kClientTrace) + "-" + std::string(kClientSpan) + "-01-extra\r\n",
      "traceparent: 00-" + std::string(kClientTrace) + "-" + std::string(kClientSpan) + "\r\n",  // cut short
      "traceparent: garbage\r\n",
      // Two traceparent fields: ambiguous, so neither is trusted.
      traceparent_header(kClientTrace, kClientSpan, "01") +
          traceparent_header(kClientTrace, "b7ad6b7169203331", "01"),
  };
  std::set<std::string> new_traces;
  for (const auto& header : invalid) {
    HttpResponse response =
        round_trip(stack.port(), get_request("/headers", header + "tracestate: congo=t61rcWkgMzE\r\n"));
    ASSERT_EQ(response.status, 200) << header << response.error;
    auto sent = upstream_traceparent(response);
    ASSERT_TRUE(sent.has_value()) << header << response.body;
    EXPECT_EQ(echoed_header_count(response.body, "traceparent"), 1u) << header << response.body;
    EXPECT_NE(sent->trace_id, kClientTrace) << header;
    EXPECT_NE(sent->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736") << header;
    EXPECT_EQ(sent->flags, "01") << header;
    // A tracestate belongs to the traceparent it came with: with that one refused, it is not forwarded.
    EXPECT_FALSE(echoed_header(response.body, "tracestate").has_value()) << header << response.body;
    new_traces.insert(sent->trace_id);
  }
  EXPECT_EQ(new_traces.size(), invalid.size()) << "each request starts its own trace";

  std::vector<ExportedSpan> servers = collector.wait_for_spans(
      invalid.size(), kSpanWait,
      [&](const ExportedSpan& s) { return s.is_server() && new_traces.contains(s.trace_id); });
  ASSERT_EQ(servers.size(), invalid.size()) << describe_spans(collector.accepted_spans());
  for (const auto& server : servers) {
    EXPECT_EQ(server.parent_span_id, "") << server.describe();
    EXPECT_EQ(server.status_code, "") << server.describe();
    EXPECT_EQ(server.attribute("http.response.status_code"), "200") << server.describe();
    EXPECT_FALSE(server.attribute("error.type").has_value()) << server.describe();
  }
}

TEST(TracingTest, B3SingleHeaderIsAcceptedAsTheParent) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector));
  const std::string parent = "b7ad6b7169203331";
  HttpResponse response = round_trip(
      stack.port(), get_request("/headers", "b3: " + std::string(kClientTrace) + "-" + parent + "-1\r\n"));
  ASSERT_EQ(response.status, 200) << response.error;
  auto sent = upstream_traceparent(response);
  ASSERT_TRUE(sent.has_value()) << response.body;
  EXPECT_EQ(sent->trace_id, kClientTrace);
  EXPECT_EQ(sent->flags, "01");
  // With --tracing-b3 off the upstream gets traceparent only, not the client's stale B3.
  EXPECT_FALSE(echoed_header(response.body, "b3").has_value()) << response.body;

  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;
  EXPECT_EQ(spans.server->parent_span_id, parent);

  // A 64-bit B3 trace id is the low half of a 128-bit one.
  response = round_trip(stack.port(), get_request("/headers", "b3: a3ce929d0e0e4736-" + parent + "-1\r\n"));
  ASSERT_EQ(response.status, 200) << response.error;
  sent = upstream_traceparent(response);
  ASSERT_TRUE(sent.has_value()) << response.body;
  EXPECT_EQ(sent->trace_id, "0000000000000000a3ce929d0e0e4736");

  // b3 "0": the client's decision not to sample, followed by the parent-based default sampler.
  response = round_trip(
      stack.port(),
      get_request("/headers", "b3: " + std::string(kClientTrace).substr(0, 31) + "1-" + parent + "-0\r\n"));
  ASSERT_EQ(response.status, 200) << response.error;
  sent = upstream_traceparent(response);
  ASSERT_TRUE(sent.has_value()) << response.body;
  EXPECT_EQ(sent->flags, "00");
}

TEST(TracingTest, B3MultiHeadersAreAcceptedAsTheParent) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector));
  const std::string parent = "b7ad6b7169203331";
  HttpResponse response = round_trip(
      stack.port(), get_request("/headers", "X-B3-TraceId: " + std::string(kClientTrace) +
                                                "\r\nX-B3-SpanId: " + parent + "\r\nX-B3-Sampled: 1\r\n"));
  ASSERT_EQ(response.status, 200) << response.error;
  auto sent = upstream_traceparent(response);
  ASSERT_TRUE(sent.has_value()) << response.body;
  EXPECT_EQ(sent->trace_id, kClientTrace);
  EXPECT_EQ(sent->flags, "01");
  EXPECT_FALSE(echoed_header(response.body, "X-B3-TraceId").has_value()) << response.body;

  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;
  EXPECT_EQ(spans.server->parent_span_id, parent);
}

TEST(TracingTest, ValidTraceparentWinsOverB3) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector));
  HttpResponse response =
      round_trip(stack.port(),
                 get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01") +
                                             "b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1\r\n"));
  ASSERT_EQ(response.status, 200) << response.error;
  auto sent = upstream_traceparent(response);
  ASSERT_TRUE(sent.has_value()) << response.body;
  EXPECT_EQ(sent->trace_id, kClientTrace);
  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server) << spans.all;
  EXPECT_EQ(spans.server->parent_span_id, kClientSpan);
}

TEST(TracingTest, B3SingleIsSentUpstreamWhenConfigured) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector, {"--tracing-b3", "single"}));
  HttpResponse response =
      round_trip(stack.port(),
                 get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01") +
                                             "b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1\r\n"));
  ASSERT_EQ(response.status, 200) << response.error;
  auto sent = upstream_traceparent(response);
  ASSERT_TRUE(sent.has_value()) << response.body;
  EXPECT_EQ(echoed_header_count(response.body, "b3"), 1u) << "the client's b3 is replaced, not added to\n"
                                                          << response.body;
  EXPECT_EQ(echoed_header(response.body, "b3"), sent->trace_id + "-" + sent->parent_id + "-1")
      << response.body;
  EXPECT_FALSE(echoed_header(response.body, "X-B3-TraceId").has_value()) << response.body;

  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.client) << spans.all;
  EXPECT_EQ(spans.client->span_id, sent->parent_id);
}

TEST(TracingTest, B3MultiIsSentUpstreamWhenConfigured) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector, {"--tracing-b3", "multi"}));
  HttpResponse response = round_trip(
      stack.port(), get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01") +
                                                "X-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7\r\n"
                                                "X-B3-SpanId: e457b5a2e4d86bd1\r\nX-B3-Sampled: 0\r\n"));
  ASSERT_EQ(response.status, 200) << response.error;
  auto sent = upstream_traceparent(response);
  ASSERT_TRUE(sent.has_value()) << response.body;
  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;

  EXPECT_EQ(echoed_header_count(response.body, "X-B3-TraceId"), 1u) << response.body;
  EXPECT_EQ(echoed_header_count(response.body, "X-B3-Sampled"), 1u) << response.body;
  EXPECT_EQ(echoed_header(response.body, "X-B3-TraceId"), kClientTrace) << response.body;
  EXPECT_EQ(echoed_header(response.body, "X-B3-SpanId"), spans.client->span_id) << response.body;
  EXPECT_EQ(echoed_header(response.body, "X-B3-ParentSpanId"), spans.server->span_id) << response.body;
  EXPECT_EQ(echoed_header(response.body, "X-B3-Sampled"), "1") << response.body;
  EXPECT_FALSE(echoed_header(response.body, "b3").has_value()) << response.body;
}

// ---- Sampling -----------------------------------------------------------------------------------------

TEST(TracingTest, AlwaysOffExportsNothingButStillPropagatesAnUnsampledTraceparent) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector, {"--tracing-sampler", "always_off"}));
  HttpResponse root = round_trip(stack.port(), get_request("/headers"));
  ASSERT_EQ(root.status, 200) << root.error;
  auto sent = upstream_traceparent(root);
  ASSERT_TRUE(sent.has_value()) << root.body;
  EXPECT_EQ(sent->flags, "00");

  // always_off is not parent-based: even a sampled parent is not exported, but its trace is continued.
  HttpResponse child =
      round_trip(stack.port(), get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01")));
  ASSERT_EQ(child.status, 200) << child.error;
  sent = upstream_traceparent(child);
  ASSERT_TRUE(sent.has_value()) << child.body;
  EXPECT_EQ(sent->trace_id, kClientTrace);
  EXPECT_EQ(sent->flags, "00");

  ASSERT_TRUE(scrape_after_requests(stack.proxy.admin_port, 2).error.empty());
  EXPECT_FALSE(collector.wait_for_requests(1, kQuietPeriod)) << describe_spans(collector.accepted_spans());
  MetricsText metrics = scrape_metrics(stack.proxy.admin_port);
  EXPECT_EQ(metric(metrics, kExported), 0);
  EXPECT_EQ(metric(metrics, kQueue), 0);
}

TEST(TracingTest, RatioZeroExportsNothingButStillPropagates) {
  TestCollector collector;
  Stack stack = start_stack(
      tracing_args(collector, {"--tracing-sampler", "traceidratio", "--tracing-sampler-ratio", "0"}));
  for (int i = 0; i < 5; ++i) {
    HttpResponse response = round_trip(stack.port(), get_request("/headers"));
    ASSERT_EQ(response.status, 200) << response.error;
    auto sent = upstream_traceparent(response);
    ASSERT_TRUE(sent.has_value()) << response.body;
    EXPECT_EQ(sent->flags, "00");
  }
  ASSERT_TRUE(scrape_after_requests(stack.proxy.admin_port, 5).error.empty());
  EXPECT_FALSE(collector.wait_for_requests(1, kQuietPeriod)) << describe_spans(collector.accepted_spans());
}

TEST(TracingTest, ParentBasedSamplerFollowsTheParentsDecision) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector));  // default: parentbased_traceidratio, ratio 1
  const std::string unsampled_trace = "11112222333344445555666677778888";
  HttpResponse unsampled = round_trip(
      stack.port(), get_request("/headers", traceparent_header(unsampled_trace, kClientSpan, "00")));
  ASSERT_EQ(unsampled.status, 200) << unsampled.error;
  auto sent = upstream_traceparent(unsampled);
  ASSERT_TRUE(sent.has_value()) << unsampled.body;
  EXPECT_EQ(sent->trace_id, unsampled_trace);
  EXPECT_EQ(sent->flags, "00") << "an unsampled parent stays unsampled downstream";

  HttpResponse sampled =
      round_trip(stack.port(), get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01")));
  ASSERT_EQ(sampled.status, 200) << sampled.error;
  sent = upstream_traceparent(sampled);
  ASSERT_TRUE(sent.has_value()) << sampled.body;
  EXPECT_EQ(sent->flags, "01");

  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;
  EXPECT_TRUE(collector
                  .wait_for_spans(1, kQuietPeriod,
                                  [&](const ExportedSpan& s) { return s.trace_id == unsampled_trace; })
                  .empty());
}

TEST(TracingTest, ParentBasedAlwaysOffSamplesOnlyWhatTheParentSampled) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector, {"--tracing-sampler", "parentbased_always_off"}));
  HttpResponse root = round_trip(stack.port(), get_request("/headers"));
  ASSERT_EQ(root.status, 200) << root.error;
  auto root_sent = upstream_traceparent(root);
  ASSERT_TRUE(root_sent.has_value()) << root.body;
  EXPECT_EQ(root_sent->flags, "00");

  HttpResponse child =
      round_trip(stack.port(), get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01")));
  ASSERT_EQ(child.status, 200) << child.error;
  auto sent = upstream_traceparent(child);
  ASSERT_TRUE(sent.has_value()) << child.body;
  EXPECT_EQ(sent->flags, "01");

  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;
  EXPECT_TRUE(collector
                  .wait_for_spans(1, kQuietPeriod,
                                  [&](const ExportedSpan& s) { return s.trace_id == root_sent->trace_id; })
                  .empty());
}

// ---- Tail rules ---------------------------------------------------------------------------------------

TEST(TracingTest, TailErrorsExportsAnUnsampled5xxButNotA200OrA404) {
  TestCollector collector;
  Stack stack = start_stack(
      tracing_args(collector, {"--tracing-sampler", "always_off", "--tracing-tail-errors", "true"}));
  ASSERT_EQ(round_trip(stack.port(), get_request("/status/200")).status, 200);
  ASSERT_EQ(round_trip(stack.port(), get_request("/status/404")).status, 404);
  ASSERT_EQ(round_trip(stack.port(), get_request("/status/503")).status, 503);

  auto is_path = [](std::string path) {
    return [path](const ExportedSpan& s) { return s.is_server() && s.attribute("url.path") == path; };
  };
  std::vector<ExportedSpan> failed = collector.wait_for_spans(1, kSpanWait, is_path("/status/503"));
  ASSERT_EQ(failed.size(), 1u) << describe_spans(collector.accepted_spans());
  const ExportedSpan& server = failed.front();
  EXPECT_EQ(server.attribute("http.response.status_code"), "503");
  EXPECT_EQ(server.attribute("error.type"), "503");
  EXPECT_EQ(server.status_code, "STATUS_CODE_ERROR") << server.describe();
  EXPECT_EQ(server.flags & 0x1, 0u) << "exported by the tail rule, not sampled at the head";

  std::vector<ExportedSpan> clients = collector.wait_for_spans(1, kSpanWait, [&](const ExportedSpan& s) {
    return s.is_client() && s.parent_span_id == server.span_id;
  });
  ASSERT_EQ(clients.size(), 1u) << describe_spans(collector.accepted_spans());
  EXPECT_EQ(clients.front().attribute("http.response.status_code"), "503");
  EXPECT_EQ(clients.front().status_code, "STATUS_CODE_ERROR") << clients.front().describe();

  EXPECT_TRUE(collector.wait_for_spans(1, kQuietPeriod, is_path("/status/200")).empty());
  EXPECT_TRUE(collector.wait_for_spans(1, 1ms, is_path("/status/404")).empty());
}

TEST(TracingTest, TailErrorsExportsAProxyFailureAsAnErrorSpan) {
  TestCollector collector;
  Apimeter proxy = start_apimeter(
      tracing_args(collector, {"--upstream", "127.0.0.1:" + std::to_string(unused_port()),
                               "--tracing-sampler", "always_off", "--tracing-tail-errors", "true"}));
  ASSERT_EQ(
      round_trip(proxy.port, get_request("/refused", traceparent_header(kClientTrace, kClientSpan, "01")))
          .status,
      502);
  std::vector<ExportedSpan> spans = collector.wait_for_spans(
      1, kSpanWait, [](const ExportedSpan& s) { return s.is_server() && s.trace_id == kClientTrace; });
  ASSERT_EQ(spans.size(), 1u) << describe_spans(collector.accepted_spans()) << proxy.proc().describe();
  EXPECT_EQ(spans.front().attribute("http.response.status_code"), "502");
  EXPECT_EQ(spans.front().attribute("error.type"), "upstream_refused");
  EXPECT_EQ(spans.front().status_code, "STATUS_CODE_ERROR") << spans.front().describe();
  EXPECT_EQ(spans.front().parent_span_id, kClientSpan);
}

TEST(TracingTest, ClientErrorLeavesTheSpanStatusUnset) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector));
  ASSERT_EQ(round_trip(stack.port(),
                       get_request("/status/404", traceparent_header(kClientTrace, kClientSpan, "01")))
                .status,
            404);
  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;
  EXPECT_EQ(spans.server->attribute("http.response.status_code"), "404");
  EXPECT_EQ(spans.server->status_code, "") << spans.server->describe();
  EXPECT_FALSE(spans.server->attribute("error.type").has_value()) << spans.server->describe();
}

TEST(TracingTest, TailLatencyExportsSlowUnsampledRequestsOnly) {
  TestCollector collector;
  Stack stack = start_stack(
      tracing_args(collector, {"--tracing-sampler", "always_off", "--tracing-tail-latency", "200ms"}));
  ASSERT_EQ(round_trip(stack.port(), get_request("/delay/10")).status, 200);
  ASSERT_EQ(round_trip(stack.port(), get_request("/delay/400")).status, 200);
  auto is_path = [](std::string path) {
    return [path](const ExportedSpan& s) { return s.is_server() && s.attribute("url.path") == path; };
  };
  std::vector<ExportedSpan> slow = collector.wait_for_spans(1, kSpanWait, is_path("/delay/400"));
  ASSERT_EQ(slow.size(), 1u) << describe_spans(collector.accepted_spans());
  EXPECT_GE(slow.front().end_unix_nano - slow.front().start_unix_nano, 400'000'000u)
      << slow.front().describe();
  EXPECT_EQ(slow.front().status_code, "") << "slow is not an error";
  EXPECT_TRUE(collector.wait_for_spans(1, kQuietPeriod, is_path("/delay/10")).empty());
}

// ---- Export: retries, failures, bounds ----------------------------------------------------------------

TEST(TracingExportTest, RetryAfterIsHonouredAndTheSpansArriveOnce) {
  TestCollector collector;
  collector.script({503, {{"Retry-After", "1"}}, "", false});
  Stack stack = start_stack(tracing_args(
      collector, {"--tracing-retry-initial-backoff", "10ms", "--tracing-retry-max-backoff", "20ms"}));
  ASSERT_EQ(
      round_trip(stack.port(), get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01")))
          .status,
      200);
  ASSERT_TRUE(collector.wait_for_requests(2, kSpanWait)) << stack.proxy.proc().describe();
  std::vector<CollectorRequest> requests = collector.requests();
  EXPECT_EQ(requests[0].answered, 503);
  EXPECT_EQ(requests[1].answered, 200);
  EXPECT_EQ(requests[0].body, requests[1].body) << "the retry resends the same batch";
  // Retry-After: 1 overrides the 10 ms backoff (a little slack for clock granularity).
  EXPECT_GE(requests[1].received - requests[0].received, 950ms);

  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;
  EXPECT_EQ(spans_of_trace(collector.accepted_spans(), kClientTrace).size(), 2u) << "accepted once";

  // The exporter counts the request, then the spans: wait for both.
  MetricsText metrics = scrape_until(stack.proxy.admin_port, [](const MetricsText& m) {
    return m.sum(kExportRequests, {{"result", "success"}}) >= 1 && m.sum(kExported) >= 2;
  });
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  EXPECT_EQ(metric(metrics, kExportRequests, {{"result", "retryable_error"}}), 1);
  EXPECT_EQ(metric(metrics, kExportRequests, {{"result", "success"}}), 1);
  EXPECT_EQ(metric(metrics, kExportRequests, {{"result", "error"}}), 0);
  EXPECT_EQ(metric(metrics, kExported), 2);
  EXPECT_EQ(metric(metrics, kDropped), 0);
  EXPECT_EQ(metric(metrics, "apimeter_tracing_export_duration_seconds_count"), 2);
  EXPECT_TRUE(histogram_problems(metrics).empty());
  EXPECT_FALSE(collector.wait_for_requests(3, kQuietPeriod)) << "nothing more to send";
}

// An https collector: apimeter itself terminates TLS in front of the cleartext test collector, with a
// certificate of a test CA. The exporter verifies it against tracing.ca_file; without that file the
// system's store does not know the CA, and nothing is sent.
struct HttpsCollector {
  TestCollector collector;
  TestPki pki{test_temp_dir()};
  CertFiles certificate = pki.issue("collector", "collector.test", /*server=*/true);
  Apimeter front =
      start_apimeter({"--upstream", "127.0.0.1:" + std::to_string(collector.port()), "--access-log", "off",
                      "--tls-cert-file", certificate.cert, "--tls-key-file", certificate.key});
  std::string endpoint() const { return "https://127.0.0.1:" + std::to_string(front.port) + "/v1/traces"; }
};

TEST(TracingExportTest, HttpsEndpointIsVerifiedAgainstTheConfiguredCa) {
  HttpsCollector https;
  Stack stack = start_stack({"--tracing-enabled", "true", "--tracing-endpoint", https.endpoint(),
                             "--tracing-ca-file", https.pki.ca_file(), "--tracing-batch-delay", "20ms"});
  ASSERT_EQ(
      round_trip(stack.port(), get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01")))
          .status,
      200);
  RequestSpans spans = wait_for_request_spans(https.collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all << stack.proxy.proc().describe();
  // The export crossed TLS: the front counted its handshake.
  MetricsText front = scrape_until(https.front.admin_port, [](const MetricsText& m) {
    return m.sum("apimeter_tls_handshakes_total", {{"result", "success"}}) >= 1;
  });
  EXPECT_EQ(front.sum("apimeter_tls_handshakes_total", {{"result", "success"}}), 1)
      << "one kept-alive connection";
}

TEST(TracingExportTest, HttpsCollectorWithAnUntrustedCertificateGetsNothing) {
  HttpsCollector https;
  Stack stack = start_stack({"--tracing-enabled", "true", "--tracing-endpoint", https.endpoint(),
                             "--tracing-batch-delay", "20ms", "--tracing-retry-initial-backoff", "50ms"});
  ASSERT_EQ(round_trip(stack.port(), get_request("/headers")).status, 200);
  MetricsText metrics = scrape_until(stack.proxy.admin_port, [](const MetricsText& m) {
    return m.sum(kExportRequests, {{"result", "retryable_error"}}) >= 2;
  });
  EXPECT_GE(metric(metrics, kExportRequests, {{"result", "retryable_error"}}), 2)
      << stack.proxy.proc().describe();
  EXPECT_EQ(metric(metrics, kExportRequests, {{"result", "success"}}), 0);
  EXPECT_EQ(https.collector.request_count(), 0u) << "no request may reach a collector that was not verified";
  // The front saw the exporter refuse its certificate (unknown CA).
  MetricsText front = scrape_until(https.front.admin_port, [](const MetricsText& m) {
    return m.sum("apimeter_tls_handshakes_total", {{"error_type", "peer_rejected_certificate"}}) >= 1;
  });
  EXPECT_GE(front.sum("apimeter_tls_handshakes_total", {{"error_type", "peer_rejected_certificate"}}), 1);
}

TEST(TracingExportTest, BadRequestIsNotRetriedAndItsSpansAreCountedAsDropped) {
  TestCollector collector;
  collector.script({400, {}, "", false});
  Stack stack = start_stack(tracing_args(
      collector, {"--tracing-retry-initial-backoff", "10ms", "--tracing-retry-max-backoff", "20ms"}));
  ASSERT_EQ(round_trip(stack.port(), get_request("/headers")).status, 200);
  ASSERT_TRUE(collector.wait_for_requests(1, kSpanWait)) << stack.proxy.proc().describe();
  MetricsText metrics = scrape_until(stack.proxy.admin_port, [](const MetricsText& m) {
    return m.sum(kDropped, {{"reason", "export_failed"}}) >= 2;
  });
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  EXPECT_EQ(metric(metrics, kDropped, {{"reason", "export_failed"}}), 2);
  EXPECT_EQ(metric(metrics, kExportRequests, {{"result", "error"}}), 1);
  EXPECT_EQ(metric(metrics, kExportRequests, {{"result", "retryable_error"}}), 0);
  EXPECT_EQ(metric(metrics, kExported), 0);
  // A retry would come after the 10 ms backoff; none comes.
  EXPECT_FALSE(collector.wait_for_requests(2, kQuietPeriod));

  // The exporter carries on with the next batch.
  ASSERT_EQ(
      round_trip(stack.port(), get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01")))
          .status,
      200);
  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;
  EXPECT_EQ(collector.request_count(), 2u);
}

TEST(TracingExportTest, RejectedSpansOfAPartialSuccessAreCounted) {
  TestCollector collector;
  // ExportTraceServiceResponse { partial_success (1) { rejected_spans (1) = 1 } }
  collector.script({200, {}, std::string("\x0a\x02\x08\x01", 4), false});
  Stack stack = start_stack(tracing_args(collector));
  ASSERT_EQ(round_trip(stack.port(), get_request("/headers")).status, 200);
  MetricsText metrics = scrape_until(stack.proxy.admin_port, [](const MetricsText& m) {
    return m.sum(kExported) >= 1 && m.sum(kDropped, {{"reason", "rejected"}}) >= 1;
  });
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  EXPECT_EQ(metric(metrics, kExportRequests, {{"result", "success"}}), 1);
  EXPECT_EQ(metric(metrics, kDropped, {{"reason", "rejected"}}), 1);
  EXPECT_EQ(metric(metrics, kExported), 1);
}

TEST(TracingExportTest, UnreachableCollectorNeitherSlowsRequestsNorGrowsTheQueue) {
  Stack stack = start_stack({"--tracing-enabled",
                             "true",
                             "--tracing-endpoint",
                             "http://127.0.0.1:" + std::to_string(unused_port()) + "/v1/traces",
                             "--tracing-batch-delay",
                             "10ms",
                             "--tracing-retry-initial-backoff",
                             "10ms",
                             "--tracing-retry-max-backoff",
                             "20ms",
                             "--tracing-retry-max-elapsed",
                             "100ms",
                             "--tracing-export-timeout",
                             "500ms",
                             "--tracing-max-queue-spans",
                             "8",
                             "--tracing-max-batch-spans",
                             "4",
                             "--access-log",
                             "off"});
  constexpr int kRequests = 30;
  double max_queue = 0;
  for (int i = 0; i < kRequests; ++i) {
    auto start = std::chrono::steady_clock::now();
    HttpResponse response = round_trip(stack.port(), get_request("/headers"));
    ASSERT_EQ(response.status, 200) << response.error;
    EXPECT_LT(elapsed_ms(start), 1000) << "request " << i << " waited on the exporter";
    if (i % 5 == 0) max_queue = std::max(max_queue, metric(scrape_metrics(stack.proxy.admin_port), kQueue));
  }
  // Every span ends up counted: dropped after the retries gave up, or refused by the full queue.
  MetricsText metrics = scrape_until(
      stack.proxy.admin_port,
      [&](const MetricsText& m) {
        max_queue = std::max(max_queue, metric(m, kQueue));
        return m.sum(kDropped) >= 2 * kRequests;
      },
      20s);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  EXPECT_EQ(metric(metrics, kDropped), 2 * kRequests) << stack.proxy.proc().describe();
  EXPECT_GT(metric(metrics, kDropped, {{"reason", "export_failed"}}), 0);
  EXPECT_GT(metric(metrics, kExportRequests, {{"result", "retryable_error"}}), 0);
  EXPECT_EQ(metric(metrics, kExportRequests, {{"result", "success"}}), 0);
  EXPECT_EQ(metric(metrics, kExported), 0);
  EXPECT_EQ(metric(metrics, kQueue), 0);
  // The bound: the workers' buffers (8) plus what the exporter holds, which is under one batch (4) before it
  // takes a worker's whole buffer (4 here: the queue split over the 2 workers).
  EXPECT_LE(max_queue, 8 + 4 - 1 + 4);
}

TEST(TracingExportTest, HangingCollectorFillsTheQueueAndDropsAreCountedAsQueueFull) {
  TestCollector collector;
  collector.set_default_reply({200, {}, "", true});
  Stack stack = start_stack(tracing_args(
      collector, {"--tracing-max-queue-spans", "4", "--tracing-max-batch-spans", "2", "--tracing-batch-delay",
                  "10ms", "--tracing-export-timeout", "60s", "--access-log", "off"}));
  ASSERT_EQ(round_trip(stack.port(), get_request("/headers")).status, 200);
  // The exporter now waits on the collector with one batch in hand.
  ASSERT_TRUE(collector.wait_for_requests(1, kSpanWait)) << stack.proxy.proc().describe();
  constexpr int kRequests = 12;
  for (int i = 0; i < kRequests; ++i) {
    auto start = std::chrono::steady_clock::now();
    ASSERT_EQ(round_trip(stack.port(), get_request("/headers")).status, 200);
    EXPECT_LT(elapsed_ms(start), 1000) << "request " << i << " waited on the exporter";
  }
  // A span is handed over just after its response is written: wait until the last request's are counted.
  MetricsText metrics = scrape_until(stack.proxy.admin_port, [&](const MetricsText& m) {
    return m.sum(kQueue) - 2 + m.sum(kDropped, {{"reason", "queue_full"}}) >= 2 * kRequests;
  });
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  // The exporter holds the first request's 2 spans; each worker's buffer (4 / 2 workers) holds one more
  // request; every other span of the later requests was refused at the door.
  const double queued = metric(metrics, kQueue);
  const double refused = metric(metrics, kDropped, {{"reason", "queue_full"}});
  EXPECT_LE(queued, 4 + 2) << "queue bound plus the batch being sent";
  EXPECT_GE(refused, 2.0 * (kRequests - 2));
  EXPECT_EQ(queued - 2 + refused, 2.0 * kRequests) << "every span of the later requests is queued or refused";
  EXPECT_EQ(metric(metrics, kExported), 0) << "the collector never answered";
  EXPECT_EQ(collector.request_count(), 1u) << "one export at a time";
}

TEST(TracingExportTest, GzipBodyAndConfiguredHeadersReachTheCollector) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector, {"--tracing-compression", "gzip", "--tracing-headers",
                                                     "x-api-key=secret123,x-tenant=blue%20team"}));
  ASSERT_EQ(
      round_trip(stack.port(), get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01")))
          .status,
      200);
  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;

  std::vector<CollectorRequest> requests = collector.requests();
  ASSERT_FALSE(requests.empty());
  const CollectorRequest& request = requests.front();
  EXPECT_EQ(request.error, "");
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/v1/traces");
  EXPECT_EQ(request.header("Content-Type"), "application/x-protobuf");
  EXPECT_EQ(request.header("Content-Encoding"), "gzip");
  EXPECT_EQ(request.header("x-api-key"), "secret123");
  EXPECT_EQ(request.header("x-tenant"), "blue team");
  EXPECT_NE(request.wire_body, request.body) << "the wire body is compressed";

  // protoc, knowing no schema, still reads the inflated body as protobuf and finds the span name in it.
  RunResult raw = protoc_decode_raw(request.body);
  EXPECT_EQ(raw.exit_code, 0) << raw.err_text();
  EXPECT_NE(raw.out_text().find("\"GET /headers\""), std::string::npos) << raw.out_text();
}

TEST(TracingExportTest, UncompressedExportIsPlainProtobufByDefault) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector));
  ASSERT_EQ(
      round_trip(stack.port(), get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01")))
          .status,
      200);
  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;
  std::vector<CollectorRequest> requests = collector.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_FALSE(requests.front().header("Content-Encoding").has_value());
  EXPECT_EQ(requests.front().wire_body, requests.front().body);
  RunResult raw = protoc_decode_raw(requests.front().wire_body);
  EXPECT_EQ(raw.exit_code, 0) << raw.err_text();
  EXPECT_NE(raw.out_text().find("\"GET /headers\""), std::string::npos) << raw.out_text();
}

// ---- Configuration from OTEL_* variables -----------------------------------------------------------------

TEST(TracingConfigTest, OtelVariablesSetTheEndpointServiceNameAndResource) {
  TestCollector collector;
  Stack stack = start_stack_with_env(
      {},
      {"OTEL_TRACES_EXPORTER=otlp",
       "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:" + std::to_string(collector.port()),
       "OTEL_SERVICE_NAME=checkout", "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=staging,team=payments",
       "OTEL_EXPORTER_OTLP_HEADERS=x-from-env=yes", "OTEL_BSP_SCHEDULE_DELAY=20"});
  ASSERT_EQ(
      round_trip(stack.port(), get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01")))
          .status,
      200);
  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all << stack.proxy.proc().describe();
  const auto& resource = spans.server->resource;
  EXPECT_EQ(resource.count("service.name") ? resource.at("service.name") : "", "checkout");
  EXPECT_EQ(resource.count("deployment.environment") ? resource.at("deployment.environment") : "", "staging");
  EXPECT_EQ(resource.count("team") ? resource.at("team") : "", "payments");
  std::vector<CollectorRequest> requests = collector.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.front().target, "/v1/traces") << "the generic endpoint gains the traces path";
  EXPECT_EQ(requests.front().header("x-from-env"), "yes");
}

TEST(TracingConfigTest, TracesEndpointVariableIsUsedAsIsAndFlagsWinOverVariables) {
  TestCollector collector;
  Stack stack =
      start_stack_with_env({"--tracing-service-name", "from-flag", "--tracing-batch-delay", "20ms"},
                           {"OTEL_TRACES_EXPORTER=otlp",
                            "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:" + std::to_string(unused_port()),
                            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" + collector.endpoint("/custom/traces"),
                            "OTEL_SERVICE_NAME=from-env"});
  ASSERT_EQ(
      round_trip(stack.port(), get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01")))
          .status,
      200);
  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all << stack.proxy.proc().describe();
  EXPECT_EQ(spans.server->resource.count("service.name") ? spans.server->resource.at("service.name") : "",
            "from-flag");
  std::vector<CollectorRequest> requests = collector.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.front().target, "/custom/traces");
}

// ---- Shutdown -----------------------------------------------------------------------------------------

TEST(TracingShutdownTest, SigtermFlushesQueuedSpansBeforeExit) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(
      collector, {"--tracing-batch-delay", "60s", "--tracing-shutdown-timeout", "5s", "--drain-delay", "0"}));
  constexpr int kRequests = 3;
  for (int i = 0; i < kRequests; ++i)
    ASSERT_EQ(round_trip(stack.port(), get_request("/headers")).status, 200);
  // All six spans wait in the queue: the batch delay is a minute and the batch is far from full.
  MetricsText metrics = scrape_until(stack.proxy.admin_port,
                                     [](const MetricsText& m) { return m.sum(kQueue) >= 2 * kRequests; });
  ASSERT_EQ(metric(metrics, kQueue), 2 * kRequests) << metrics.error;
  EXPECT_EQ(collector.request_count(), 0u);

  auto start = std::chrono::steady_clock::now();
  stack.proxy.proc().send_signal(SIGTERM);
  ASSERT_EQ(stack.proxy.proc().wait_exit(15s), 0) << stack.proxy.proc().describe();
  EXPECT_LT(elapsed_ms(start), 5000);
  // The collector answered before apimeter exited, so everything is recorded now: no waiting.
  std::vector<ExportedSpan> spans = collector.accepted_spans();
  EXPECT_EQ(spans.size(), 2u * kRequests) << describe_spans(spans) << collector.decode_errors();
  EXPECT_EQ(spans_where(spans, [](const ExportedSpan& s) { return s.is_server(); }).size(),
            std::size_t{kRequests});
}

TEST(TracingShutdownTest, SigtermWithAHangingCollectorExitsWithinTheShutdownTimeout) {
  TestCollector collector;
  collector.set_default_reply({200, {}, "", true});
  Stack stack =
      start_stack(tracing_args(collector, {"--tracing-batch-delay", "60s", "--tracing-shutdown-timeout",
                                           "500ms", "--drain-delay", "0"}));
  ASSERT_EQ(round_trip(stack.port(), get_request("/headers")).status, 200);
  ASSERT_EQ(scrape_until(stack.proxy.admin_port, [](const MetricsText& m) { return m.sum(kQueue) >= 2; })
                .sum(kQueue),
            2);
  auto start = std::chrono::steady_clock::now();
  stack.proxy.proc().send_signal(SIGTERM);
  ASSERT_EQ(stack.proxy.proc().wait_exit(15s), 0) << stack.proxy.proc().describe();
  EXPECT_LT(elapsed_ms(start), 3000) << "the export timeout (10 s) must not outlast the shutdown timeout";
  EXPECT_EQ(collector.request_count(), 1u) << "the flush was attempted";
}

// ---- Access log and exemplars
// ------------------------------------------------------------------------------

TEST(TracingTest, AccessLogLineCarriesTheServerSpansIds) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector));
  ASSERT_EQ(
      round_trip(stack.port(), get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01")))
          .status,
      200);
  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;
  auto line = stack.proxy.proc().wait_for_stdout(json_field_is("url.path", "/headers"), kIo);
  ASSERT_TRUE(line.has_value()) << stack.proxy.proc().describe();
  EXPECT_EQ(json_field(*line, "trace_id"), kClientTrace) << *line;
  EXPECT_EQ(json_field(*line, "span_id"), spans.server->span_id) << *line;
}

// An exemplar on a sample line of the OpenMetrics text: `name{labels} value # {trace_id="..",span_id=".."} v
// t`.
struct ExemplarRef {
  std::string sample;  // the part before " # "
  std::string trace_id;
  std::string span_id;
};

std::vector<ExemplarRef> exemplars_of(std::string_view text, std::string_view family) {
  std::vector<ExemplarRef> out;
  for (const auto& line : body_lines(text)) {
    if (!line.starts_with(std::string(family) + "_bucket{")) continue;
    auto hash = line.find(" # {");
    if (hash == std::string::npos) continue;
    auto field = [&](std::string_view key) {
      auto at = line.find(std::string(key) + "=\"", hash);
      if (at == std::string::npos) return std::string();
      at += key.size() + 2;
      return line.substr(at, line.find('"', at) - at);
    };
    out.push_back({line.substr(0, hash), field("trace_id"), field("span_id")});
  }
  return out;
}

TEST(TracingTest, OpenMetricsExemplarsPointAtExportedSpans) {
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector));
  ASSERT_EQ(
      round_trip(stack.port(), get_request("/headers", traceparent_header(kClientTrace, kClientSpan, "01")))
          .status,
      200);
  RequestSpans spans = wait_for_request_spans(collector, kClientTrace);
  ASSERT_TRUE(spans.server && spans.client) << spans.all;
  ASSERT_TRUE(scrape_after_requests(stack.proxy.admin_port, 1).error.empty());

  HttpResponse om = http_get(stack.proxy.admin_port, "/metrics", kOpenMetricsAccept);
  ASSERT_EQ(om.status, 200) << om.error;
  std::vector<ExemplarRef> server = exemplars_of(om.body, "http_server_request_duration_seconds");
  ASSERT_FALSE(server.empty()) << om.body;
  for (const auto& e : server) {
    EXPECT_EQ(e.trace_id, kClientTrace) << e.sample;
    EXPECT_EQ(e.span_id, spans.server->span_id) << e.sample;
  }
  std::vector<ExemplarRef> client = exemplars_of(om.body, "http_client_request_duration_seconds");
  ASSERT_FALSE(client.empty()) << om.body;
  for (const auto& e : client) {
    EXPECT_EQ(e.trace_id, kClientTrace) << e.sample;
    EXPECT_EQ(e.span_id, spans.client->span_id) << e.sample;
  }

  // The OpenMetrics text with exemplars parses with the reference Python parser when it is installed.
  if (::access("/usr/bin/python3", X_OK) == 0) {
    std::string script = write_temp_file("exemplars.py", R"(import sys
try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError:
    sys.exit(3)
for family in text_string_to_metric_families(open(sys.argv[1], encoding="utf-8").read()):
    for s in family.samples:
        if s.exemplar:
            print(s.name, s.exemplar.labels.get("trace_id"), s.exemplar.labels.get("span_id"))
)");
    std::string file = write_temp_file("metrics.om", om.body);
    RunResult parsed = run_to_completion("/usr/bin/python3", {script, file}, 60s);
    if (parsed.exit_code != 3) {
      ASSERT_EQ(parsed.exit_code, 0) << parsed.err_text();
      EXPECT_NE(parsed.out_text().find("http_server_request_duration_seconds_bucket " +
                                       std::string(kClientTrace) + " " + spans.server->span_id),
                std::string::npos)
          << parsed.out_text();
    }
  }

  // The Prometheus text format carries no exemplars and still passes promtool with the tracing families.
  HttpResponse text = http_get(stack.proxy.admin_port, "/metrics");
  ASSERT_EQ(text.status, 200) << text.error;
  EXPECT_EQ(text.body.find(" # {"), std::string::npos);
  EXPECT_NE(text.body.find(std::string(kExported)), std::string::npos);
  if (::access("/usr/bin/promtool", X_OK) == 0) {
    std::string file = write_temp_file("metrics.txt", text.body);
    RunResult check =
        run_to_completion("/bin/sh", {"-c", "exec /usr/bin/promtool check metrics < \"$0\"", file}, 60s);
    EXPECT_EQ(check.exit_code, 0) << check.out_text() << check.err_text();
  }
}

// ---- A real Prometheus stores the exemplars -------------------------------------------------------------

std::string url_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", c);
      out += escaped;
    }
  }
  return out;
}

// Every "trace_id":"..." value in a Prometheus API answer.
std::set<std::string> trace_ids_in(std::string_view json) {
  std::set<std::string> out;
  constexpr std::string_view kKey = "\"trace_id\":\"";
  for (auto at = json.find(kKey); at != std::string_view::npos; at = json.find(kKey, at + 1)) {
    auto start = at + kKey.size();
    auto end = json.find('"', start);
    if (end == std::string_view::npos) break;
    out.emplace(json.substr(start, end - start));
  }
  return out;
}

TEST(TracingPrometheusTest, PrometheusStoresExemplarsThatNameExportedTraces) {
  if (::access(std::string(kPrometheus).c_str(), X_OK) != 0)
    GTEST_SKIP() << kPrometheus << " missing (Debian package prometheus; make test installs it)";
  TestCollector collector;
  Stack stack = start_stack(tracing_args(collector, {"--access-log", "off"}));

  std::uint16_t prometheus_port = unused_port();
  Process prometheus(std::string(kPrometheus),
                     prometheus_args(stack.proxy.admin_port, prometheus_port, {"--enable-feature=exemplar-storage"}));
  ASSERT_TRUE(poll_until([&] { return admin_status(prometheus_port, "/-/ready") == 200; }, 60s, 100ms))
      << prometheus.describe();

  // A request now and then while Prometheus starts scraping, so a fresh exemplar is there at every scrape.
  std::set<std::string> sent_traces;
  std::set<std::string> stored;
  std::string answer;
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::string path =
      "/api/v1/query_exemplars?query=" + url_encode("http_server_request_duration_seconds_bucket") +
      "&start=" + std::to_string(now - 3600) + "&end=" + std::to_string(now + 3600);
  bool found = poll_until(
      [&] {
        HttpResponse response = round_trip(stack.port(), get_request("/headers"));
        if (auto sent = upstream_traceparent(response)) sent_traces.insert(sent->trace_id);
        HttpResponse query = http_get(prometheus_port, path);
        answer = query.body;
        stored = trace_ids_in(answer);
        return query.status == 200 && !stored.empty();
      },
      60s, 500ms);
  ASSERT_TRUE(found) << answer << "\n" << prometheus.describe();
  EXPECT_NE(answer.find("\"status\":\"success\""), std::string::npos) << answer;

  // Some stored exemplar names a trace whose spans the collector received.
  std::set<std::string> received;
  bool any = false;
  poll_until(
      [&] {
        for (const auto& span : collector.accepted_spans()) received.insert(span.trace_id);
        for (const auto& trace : stored) any = any || received.contains(trace);
        return any;
      },
      kSpanWait, 100ms);
  EXPECT_TRUE(any) << "stored exemplars: " << answer << "\nreceived traces: " << received.size();
  for (const auto& trace : stored)
    EXPECT_TRUE(sent_traces.contains(trace)) << trace << " was never sent upstream";

  stop_prometheus(prometheus);
}

}  // namespace
}  // namespace apimeter::test
