// The registry end to end on one process: request, route, user, concurrency, process and self-protection
// families, merging of shards, caps, reloads, /stats and /routes. Time comes from an injected clock.
#include "metrics/metrics_registry.hpp"
#include "metrics/openmetrics_serializer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "metrics/text_serializer.hpp"
#include "metrics_test_support.hpp"

namespace apimeter::metrics {
namespace {

using namespace std::chrono_literals;
using testing::Exchange;
using testing::FakeClock;
using testing::find_family;
using testing::find_series;
using testing::label_of;

std::shared_ptr<const MetricsSettings> make_settings(const std::function<void(MetricsSettings&)>& mutate = {}) {
  auto s = std::make_shared<MetricsSettings>();
  s->service = "shop";
  s->route_labels = {"/api/orders/{id}", "/api/search"};
  if (mutate) mutate(*s);
  return s;
}

std::uint64_t bucket(const prometheus::ClientMetric& m, double le) {
  for (const auto& b : m.histogram.bucket)
    if (b.upper_bound == le) return b.cumulative_count;
  ADD_FAILURE() << "no bucket le=" << le;
  return 0;
}

class Registry : public ::testing::Test {
 protected:
  void make(unsigned workers, std::shared_ptr<const MetricsSettings> s = make_settings()) {
    registry = std::make_unique<MetricsRegistry>(workers, BuildInfo{"1.2.3", "abc123"}, std::move(s), clock.clock());
  }
  WorkerMetrics& w(unsigned i = 0) { return registry->worker(i); }
  std::vector<prometheus::MetricFamily> collect() { return registry->Collect(); }

  FakeClock clock;
  std::unique_ptr<MetricsRegistry> registry;
};

constexpr std::string_view kDuration = "http_server_request_duration_seconds";

TEST_F(Registry, RequestDurationCarriesServiceRouteMethodAndStatus) {
  make(1);
  for (int i = 0; i < 3; ++i) w().record(Exchange("GET", "/api/orders/1").route(0, "/api/orders/{id}").took(20ms));
  auto fams = collect();
  const auto* m = find_series(fams, kDuration, {{"service", "shop"}, {"http_route", "/api/orders/{id}"},
                                                {"http_request_method", "GET"}, {"http_response_status_code", "200"}});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->histogram.sample_count, 3u);
  EXPECT_NEAR(m->histogram.sample_sum, 0.060, 1e-9);
  EXPECT_EQ(bucket(*m, 0.01), 0u);
  EXPECT_EQ(bucket(*m, 0.025), 3u);
  EXPECT_EQ(m->histogram.bucket.size(), kDefaultDurationBuckets.size() + 1);
  EXPECT_TRUE(std::isinf(m->histogram.bucket.back().upper_bound));
  EXPECT_FALSE(label_of(*m, "error_type").has_value());
}

TEST_F(Registry, ErrorTypeOnlyWhenTheProxyAnsweredAndNoStatusWhenNothingWasSent) {
  make(1);
  w().record(Exchange("GET", "/api/search", 502).route(1, "/api/search").error("upstream_refused").no_upstream());
  w().record(Exchange("GET", "/api/search", 200).route(1, "/api/search"));
  w().record(Exchange("GET", "/api/search", 0).route(1, "/api/search").error("client_closed"));
  auto fams = collect();
  const auto* refused = find_series(fams, kDuration, {{"error_type", "upstream_refused"}});
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(label_of(*refused, "http_response_status_code"), "502");
  const auto* ok = find_series(fams, kDuration, {{"http_response_status_code", "200"}});
  ASSERT_NE(ok, nullptr);
  EXPECT_FALSE(label_of(*ok, "error_type").has_value());
  const auto* closed = find_series(fams, kDuration, {{"error_type", "client_closed"}});
  ASSERT_NE(closed, nullptr);
  EXPECT_FALSE(label_of(*closed, "http_response_status_code").has_value());
}

TEST_F(Registry, UnmatchedPathsShareALearnedTemplateAndMethodsAreNormalized) {
  make(1);
  w().record(Exchange("GET", "/users/1"));
  w().record(Exchange("GET", "/users/2?x=1"));
  w().record(Exchange("PROPFIND", "/users/3"));
  auto fams = collect();
  const auto* get = find_series(fams, kDuration, {{"http_route", "/users/{id}"}, {"http_request_method", "GET"}});
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(get->histogram.sample_count, 2u);
  const auto* other = find_series(fams, kDuration, {{"http_route", "/users/{id}"}, {"http_request_method", "_OTHER"}});
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->histogram.sample_count, 1u);
}

TEST_F(Registry, LearnedTemplatesAreCappedPerProcessAcrossWorkersAndStayStable) {
  make(2, make_settings([](MetricsSettings& s) { s.max_learned_templates = 2; }));
  for (int i = 0; i < 5; ++i) w(0).record(Exchange("GET", "/alpha/1"));
  w(0).record(Exchange("GET", "/beta/1"));
  for (int i = 0; i < 3; ++i) w(1).record(Exchange("GET", "/gamma/1"));
  w(1).record(Exchange("GET", "/delta/1"));
  auto fams = collect();
  EXPECT_NE(find_series(fams, kDuration, {{"http_route", "/alpha/{id}"}}), nullptr);
  EXPECT_NE(find_series(fams, kDuration, {{"http_route", "/gamma/{id}"}}), nullptr);
  EXPECT_EQ(find_series(fams, kDuration, {{"http_route", "/beta/{id}"}}), nullptr);
  const auto* other = find_series(fams, kDuration, {{"http_route", "_other"}});
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->histogram.sample_count, 2u);
  // A folded template stays folded even when it becomes the heaviest.
  for (int i = 0; i < 100; ++i) w(0).record(Exchange("GET", "/beta/2"));
  fams = collect();
  EXPECT_EQ(find_series(fams, kDuration, {{"http_route", "/beta/{id}"}}), nullptr);
  EXPECT_EQ(find_series(fams, kDuration, {{"http_route", "_other"}})->histogram.sample_count, 102u);
  EXPECT_EQ(find_series(fams, "apimeter_learned_routes", {})->gauge.value, 2);
  // The route families fold the same way.
  EXPECT_EQ(find_series(fams, "apimeter_proxy_overhead_seconds", {{"http_route", "/beta/{id}"}}), nullptr);
  EXPECT_NE(find_series(fams, "apimeter_proxy_overhead_seconds", {{"http_route", "_other"}}), nullptr);
}

TEST_F(Registry, BytesCountersAndBodySizeHistograms) {
  make(1);
  w().record(Exchange("POST", "/api/search").route(1, "/api/search").bytes(1000, 300, 800, 100));
  w().record(Exchange("POST", "/api/search").route(1, "/api/search").bytes(500, 5000, 300, 4800));
  auto fams = collect();
  EXPECT_EQ(find_series(fams, "apimeter_received_bytes_total", {{"http_route", "/api/search"}})->counter.value, 1500);
  EXPECT_EQ(find_series(fams, "apimeter_sent_bytes_total", {{"http_route", "/api/search"}})->counter.value, 5300);
  const auto* req = find_series(fams, "http_server_request_body_size_bytes", {{"http_route", "/api/search"}});
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(req->histogram.sample_count, 2u);
  EXPECT_EQ(req->histogram.sample_sum, 1100);
  EXPECT_EQ(bucket(*req, 256), 0u);
  EXPECT_EQ(bucket(*req, 1024), 2u);
  const auto* resp = find_series(fams, "http_server_response_body_size_bytes", {{"http_route", "/api/search"}});
  EXPECT_EQ(bucket(*resp, 1024), 1u);
  EXPECT_EQ(bucket(*resp, 4096), 1u);
  EXPECT_EQ(bucket(*resp, 16384), 2u);
  EXPECT_FALSE(label_of(*req, "http_response_status_code").has_value());  // route families: route and method only
}

TEST_F(Registry, LatencyIsBrokenDownIntoUpstreamTimeToFirstByteAndOverhead) {
  make(1);
  w().record(Exchange("GET", "/api/search").route(1, "/api/search").took(10ms).upstream(1ms, 6ms, 9ms));
  w().record(Exchange("GET", "/api/orders/1", 404).route(0, "/api/orders/{id}").took(2ms).no_upstream());
  auto fams = collect();
  const auto* up = find_series(fams, "http_client_request_duration_seconds", {{"http_route", "/api/search"}});
  ASSERT_NE(up, nullptr);
  EXPECT_NEAR(up->histogram.sample_sum, 0.008, 1e-12);
  EXPECT_NEAR(find_series(fams, "apimeter_upstream_time_to_first_byte_seconds", {{"http_route", "/api/search"}})->histogram.sample_sum, 0.005, 1e-12);
  EXPECT_NEAR(find_series(fams, "apimeter_proxy_overhead_seconds", {{"http_route", "/api/search"}})->histogram.sample_sum, 0.002, 1e-12);
  // A local reply never went upstream: no upstream series, and all of its time is overhead.
  EXPECT_EQ(find_series(fams, "http_client_request_duration_seconds", {{"http_route", "/api/orders/{id}"}}), nullptr);
  EXPECT_NEAR(find_series(fams, "apimeter_proxy_overhead_seconds", {{"http_route", "/api/orders/{id}"}})->histogram.sample_sum, 0.002, 1e-12);
}

TEST_F(Registry, TheUpstreamLegIncludesConnectingAndAnUnfinishedUpstreamIsNotOverhead) {
  make(1);
  // Connecting took 2 ms: the upstream's time, not apimeter's.
  w().record(Exchange("GET", "/api/search").route(1, "/api/search").took(10ms).upstream(3ms, 6ms, 9ms).upstream_attempted(1ms));
  // The upstream timed out after 500 ms: no client request duration, and the wait is not overhead either.
  w().record(Exchange("GET", "/api/orders/1", 504).route(0, "/api/orders/{id}").error("upstream_timeout").took(501ms).upstream_unfinished());
  auto fams = collect();
  EXPECT_NEAR(find_series(fams, "http_client_request_duration_seconds", {{"http_route", "/api/search"}})->histogram.sample_sum, 0.008, 1e-12);
  EXPECT_NEAR(find_series(fams, "apimeter_upstream_time_to_first_byte_seconds", {{"http_route", "/api/search"}})->histogram.sample_sum, 0.003, 1e-12);
  EXPECT_NEAR(find_series(fams, "apimeter_proxy_overhead_seconds", {{"http_route", "/api/search"}})->histogram.sample_sum, 0.002, 1e-12);
  EXPECT_EQ(find_series(fams, "http_client_request_duration_seconds", {{"http_route", "/api/orders/{id}"}}), nullptr);
  EXPECT_EQ(find_series(fams, "apimeter_upstream_time_to_first_byte_seconds", {{"http_route", "/api/orders/{id}"}}), nullptr);
  EXPECT_NEAR(find_series(fams, "apimeter_proxy_overhead_seconds", {{"http_route", "/api/orders/{id}"}})->histogram.sample_sum, 0.001, 1e-12);
}

TEST_F(Registry, MergesTheShardsOfAllWorkers) {
  make(3);
  for (unsigned i = 0; i < 3; ++i) {
    clock.advance(1s);
    w(i).record(Exchange("GET", "/api/search").route(1, "/api/search").took(1ms));
    w(i).record(Exchange("GET", "/api/search").route(1, "/api/search").took(30ms));
  }
  Exposition e = registry->collect_exposition();
  const auto* f = find_family(e.families, kDuration);
  ASSERT_EQ(f->metric.size(), 1u);
  EXPECT_EQ(f->metric[0].histogram.sample_count, 6u);
  EXPECT_EQ(bucket(f->metric[0], 0.005), 3u);
  // _created is the earliest shard's creation time.
  const auto index = static_cast<std::size_t>(f - e.families.data());
  EXPECT_DOUBLE_EQ(e.extras[index].metrics[0].created, 1'700'000'001.0);
}

TEST_F(Registry, SeriesCapRefusesNewLabelSetsAndCountsWhatItDropped) {
  // Each new (route, method, status) is one request series plus one route series.
  make(2, make_settings([](MetricsSettings& s) { s.max_series = 4; }));
  w(0).record(Exchange("GET", "/api/search").route(1, "/api/search"));
  w(1).record(Exchange("GET", "/api/search").route(1, "/api/search"));  // same series on another worker: free
  w(0).record(Exchange("GET", "/api/orders/1").route(0, "/api/orders/{id}"));
  w(1).record(Exchange("GET", "/x/1"));
  w(1).record(Exchange("GET", "/y/1"));
  auto fams = collect();
  EXPECT_EQ(find_family(fams, kDuration)->metric.size(), 2u);
  EXPECT_EQ(find_series(fams, kDuration, {{"http_route", "/api/search"}})->histogram.sample_count, 2u);
  EXPECT_EQ(find_series(fams, "apimeter_metric_series_dropped_total", {})->counter.value, 4);
  w(0).record(Exchange("GET", "/api/search").route(1, "/api/search"));
  EXPECT_EQ(find_series(collect(), kDuration, {{"http_route", "/api/search"}})->histogram.sample_count, 3u);
}

std::shared_ptr<const MetricsSettings> user_settings(std::size_t k, bool hashed = false) {
  return make_settings([&](MetricsSettings& s) {
    s.top_users = k;
    s.user_source = {UserIdentitySource::Kind::header, "X-User-Id"};
    s.hash_user_ids = hashed;
    s.user_hash_secret = "pepper";
  });
}

TEST_F(Registry, StatsJsonGivesPerRouteBytesAndPerUserRatesOverTheWindow) {
  make(1, user_settings(5));
  // Before the window: alice 30 requests. In the last minute: alice 60 more, bob 120, 1 KB in, 4 KB out each.
  for (int i = 0; i < 30; ++i) w().record(Exchange("GET", "/api/search").route(1, "/api/search").user("alice").bytes(1000, 4000, 0, 3800));
  registry->tick(clock.steady);
  clock.advance(60s);
  registry->tick(clock.steady);
  for (int i = 0; i < 60; ++i) w().record(Exchange("GET", "/api/search").route(1, "/api/search").user("alice").bytes(1000, 4000, 0, 3800));
  for (int i = 0; i < 120; ++i) w().record(Exchange("GET", "/api/search").route(1, "/api/search").user("bob").bytes(1000, 4000, 0, 3800));
  clock.advance(60s);
  registry->tick(clock.steady);
  const std::string json = registry->stats_json(clock.steady);
  EXPECT_NE(json.find("\"version\":2,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"route\":\"/api/search\",\"requests_total\":210,\"errors_5xx_total\":0,"
                      "\"received_bytes_total\":210000,\"sent_bytes_total\":840000,\"rate\":3,\"error_ratio\":0,"
                      "\"received_bytes_rate\":3000,\"sent_bytes_rate\":12000,"),
            std::string::npos) << json;
  EXPECT_NE(json.find("{\"user\":\"bob\",\"requests_total\":120,\"rate\":2,"), std::string::npos) << json;
  EXPECT_NE(json.find("{\"user\":\"alice\",\"requests_total\":90,\"rate\":1,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"series\":{\"active\":"), std::string::npos) << json;
  EXPECT_NE(json.find("\"learned_routes\":{\"admitted\":0,\"limit\":200}"), std::string::npos) << json;
}

TEST_F(Registry, TopUsersPlusOtherAndNoneSumToAllRequests) {
  make(2, user_settings(2));
  std::uint64_t total = 0;
  for (int i = 0; i < 50; ++i, ++total) w(i % 2).record(Exchange("GET", "/api/search").route(1, "/api/search").user("alice"));
  for (int i = 0; i < 30; ++i, ++total) w(i % 2).record(Exchange("GET", "/api/search").route(1, "/api/search").user("bob"));
  for (int i = 0; i < 20; ++i, ++total) w(i % 2).record(Exchange("GET", "/api/search").route(1, "/api/search").user(std::string("u") + std::to_string(i)));
  for (int i = 0; i < 5; ++i, ++total) w(0).record(Exchange("GET", "/api/search").route(1, "/api/search"));
  auto fams = collect();
  const auto* family = find_family(fams, "apimeter_user_requests_total");
  ASSERT_NE(family, nullptr);
  double sum = 0;
  for (const auto& m : family->metric) sum += m.counter.value;
  EXPECT_EQ(sum, static_cast<double>(total));
  EXPECT_EQ(find_series(fams, "apimeter_user_requests_total", {{"user", "alice"}})->counter.value, 50);
  EXPECT_EQ(find_series(fams, "apimeter_user_requests_total", {{"user", "bob"}})->counter.value, 30);
  EXPECT_EQ(find_series(fams, "apimeter_user_requests_total", {{"user", "_other"}})->counter.value, 20);
  EXPECT_EQ(find_series(fams, "apimeter_user_requests_total", {{"user", "_none"}})->counter.value, 5);
  EXPECT_EQ(find_series(fams, kDuration, {})->histogram.sample_count, total);
}

TEST_F(Registry, HashedUserIdsNeverExposeTheRawId) {
  make(1, user_settings(3, true));
  w().record(Exchange("GET", "/api/search").route(1, "/api/search").user("alice@example.com"));
  const std::string text = serialize_text(collect());
  EXPECT_EQ(text.find("alice"), std::string::npos);
  const auto fams = collect();
  const auto* family = find_family(fams, "apimeter_user_requests_total");
  ASSERT_NE(family, nullptr);
  auto user = label_of(family->metric[0], "user");
  ASSERT_TRUE(user);
  EXPECT_TRUE(user->starts_with("u_"));
  EXPECT_EQ(user->size(), 18u);
  EXPECT_EQ(label_of(find_family(collect(), "apimeter_user_requests_total")->metric[0], "user"), user);  // stable
  EXPECT_EQ(registry->stats_json(clock.steady).find("alice"), std::string::npos);
}

TEST_F(Registry, PerUserInFlightForListedUsers) {
  make(1, user_settings(2));
  w().record(Exchange("GET", "/api/search").route(1, "/api/search").user("alice"));
  UserToken t = w().user_started("alice");
  auto active = [&] { return find_series(collect(), "apimeter_user_active_requests", {{"user", "alice"}})->gauge.value; };
  EXPECT_EQ(active(), 1);
  w().user_finished(t);
  EXPECT_EQ(active(), 0);
}

TEST_F(Registry, DistinctUsersOverTheLastMinute) {
  make(2, user_settings(5));
  for (int i = 0; i < 3000; ++i)
    w(i % 2).record(Exchange("GET", "/api/search").route(1, "/api/search").user(std::string("user-") + std::to_string(i % 1000)).at(clock.steady));
  auto value = [&] { return find_series(collect(), "apimeter_distinct_users_last_minute", {})->gauge.value; };
  EXPECT_NEAR(value(), 1000, 20);
  clock.advance(2min);
  EXPECT_EQ(value(), 0);
}

TEST_F(Registry, ConnectionPoolAndConnectErrorFamilies) {
  make(2);
  w(0).connection_opened();
  w(0).connection_opened();
  w(1).connection_opened();
  w(0).connection_closed();
  w(0).request_started();
  w(1).upstream_pool(3, 1);
  w(0).upstream_pool(2, 0);
  w(0).upstream_connect_error("upstream_refused");
  w(1).upstream_connect_error("upstream_refused");
  w(1).upstream_connect_error("upstream_connect_timeout");
  auto fams = collect();
  EXPECT_EQ(find_series(fams, "apimeter_client_connections_active", {})->gauge.value, 2);
  EXPECT_EQ(find_series(fams, "apimeter_client_connections_total", {})->counter.value, 3);
  EXPECT_EQ(find_series(fams, "http_server_active_requests", {})->gauge.value, 1);
  EXPECT_EQ(find_series(fams, "http_client_open_connections", {{"http_connection_state", "idle"}})->gauge.value, 5);
  EXPECT_EQ(find_series(fams, "http_client_open_connections", {{"http_connection_state", "active"}})->gauge.value, 1);
  EXPECT_EQ(find_series(fams, "apimeter_upstream_connect_errors_total", {{"error_type", "upstream_refused"}})->counter.value, 2);
  EXPECT_EQ(find_series(fams, "apimeter_upstream_connect_errors_total", {{"error_type", "upstream_connect_timeout"}})->counter.value, 1);
}

TEST_F(Registry, ReloadKeepsPersistingSeriesAndRetiresTheRest) {
  make(1);
  w().record(Exchange("GET", "/api/orders/1").route(0, "/api/orders/{id}"));
  w().record(Exchange("GET", "/api/search").route(1, "/api/search"));
  w().record(Exchange("GET", "/users/1"));
  auto next = make_settings([](MetricsSettings& s) { s.route_labels = {"/api/new", "/api/orders/{id}"}; });
  registry->apply(next);
  w().apply(next);
  w().record(Exchange("GET", "/api/orders/1").route(1, "/api/orders/{id}"));
  auto fams = collect();
  EXPECT_EQ(find_series(fams, kDuration, {{"http_route", "/api/orders/{id}"}})->histogram.sample_count, 2u);
  EXPECT_EQ(find_series(fams, kDuration, {{"http_route", "/api/search"}}), nullptr);
  EXPECT_EQ(find_series(fams, kDuration, {{"http_route", "/users/{id}"}})->histogram.sample_count, 1u);
  // New buckets for a route: its series restarts with them.
  auto rebucketed = make_settings([](MetricsSettings& s) {
    s.route_labels = {"/api/new", "/api/orders/{id}"};
    s.route_buckets = {{}, {0.5, 1}};
  });
  registry->apply(rebucketed);
  w().apply(rebucketed);
  w().record(Exchange("GET", "/api/orders/1").route(1, "/api/orders/{id}"));
  fams = collect();
  const auto* orders = find_series(fams, kDuration, {{"http_route", "/api/orders/{id}"}});
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->histogram.sample_count, 1u);
  EXPECT_EQ(orders->histogram.bucket.size(), 3u);
  EXPECT_EQ(find_series(fams, kDuration, {{"http_route", "/users/{id}"}})->histogram.bucket.size(), kDefaultDurationBuckets.size() + 1);
}

TEST_F(Registry, ProcessBuildAndReloadFamilies) {
  make(1);
  registry->reload_failed();
  clock.advance(5s);
  registry->reload_succeeded();
  auto fams = collect();
  const auto* build = find_series(fams, "apimeter_build_info", {{"version", "1.2.3"}, {"revision", "abc123"}});
  ASSERT_NE(build, nullptr);
  EXPECT_EQ(build->gauge.value, 1);
  EXPECT_GT(find_series(fams, "process_resident_memory_bytes", {})->gauge.value, 0);
  EXPECT_GT(find_series(fams, "process_open_fds", {})->gauge.value, 0);
  EXPECT_GT(find_series(fams, "process_start_time_seconds", {})->gauge.value, 1e9);
  EXPECT_GE(find_series(fams, "process_cpu_seconds_total", {})->counter.value, 0);
  EXPECT_EQ(find_series(fams, "apimeter_config_reloads_total", {{"result", "success"}})->counter.value, 1);
  EXPECT_EQ(find_series(fams, "apimeter_config_reloads_total", {{"result", "failure"}})->counter.value, 1);
  EXPECT_EQ(find_series(fams, "apimeter_config_last_reload_success_timestamp_seconds", {})->gauge.value, 1'700'000'005.0);
}

TEST_F(Registry, ExtraLabelValuesAreCappedPerProcess) {
  make(2, make_settings([](MetricsSettings& s) {
    s.extra_labels = {{"kind", ExtraLabel::Source::query, "type", {}, 2}};
  }));
  auto rec = [&](unsigned worker, std::string_view type, int n) {
    std::array<std::string_view, 1> values{type};
    for (int i = 0; i < n; ++i) w(worker).record(Exchange("GET", "/api/search").route(1, "/api/search"), values);
  };
  rec(0, "a", 5);
  rec(0, "b", 1);
  rec(1, "c", 3);
  rec(1, "", 1);
  auto fams = collect();
  EXPECT_EQ(find_series(fams, kDuration, {{"kind", "a"}})->histogram.sample_count, 5u);
  EXPECT_EQ(find_series(fams, kDuration, {{"kind", "c"}})->histogram.sample_count, 3u);
  EXPECT_EQ(find_series(fams, kDuration, {{"kind", "_other"}})->histogram.sample_count, 1u);
  std::uint64_t without = 0;
  for (const auto& m : find_family(fams, kDuration)->metric)
    if (!label_of(m, "kind")) without += m.histogram.sample_count;
  EXPECT_EQ(without, 1u);
}

TEST_F(Registry, StatsJsonReportsLastMinuteRateErrorRatioAndPercentiles) {
  make(1);
  registry->tick(clock.steady);
  // A minute of traffic: 120 requests, every tenth a 500, latencies 10..129 ms.
  for (int i = 0; i < 120; ++i) {
    clock.advance(500ms);
    w().record(Exchange("GET", "/api/search", i % 10 == 0 ? 500 : 200).route(1, "/api/search").took(std::chrono::milliseconds(10 + i)).at(clock.steady));
    if (i % 20 == 19) registry->tick(clock.steady);
  }
  const std::string json = registry->stats_json(clock.steady);
  EXPECT_NE(json.find("\"route\":\"/api/search\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"requests_total\":120"), std::string::npos) << json;
  EXPECT_NE(json.find("\"rate\":2,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"error_ratio\":0.1,"), std::string::npos) << json;
  auto number_after = [&](std::string_view key) {
    auto at = json.find(key);
    return at == std::string::npos ? -1.0 : std::stod(json.substr(at + key.size()));
  };
  EXPECT_NEAR(number_after("\"p50_seconds\":"), 0.0695, 0.004);
  EXPECT_NEAR(number_after("\"p99_seconds\":"), 0.128, 0.008);
  // Ten seconds later only the last 50 s of traffic are in the window.
  clock.advance(10s);
  registry->tick(clock.steady);
  const std::string later = registry->stats_json(clock.steady);
  EXPECT_NE(later.find("\"rate\":1.6"), std::string::npos) << later;
}

TEST_F(Registry, StatsInTheFirstMinuteAreOverTheUptime) {
  make(1);
  clock.advance(10s);
  for (int i = 0; i < 20; ++i) w().record(Exchange("GET", "/api/search").route(1, "/api/search").at(clock.steady - 5s));
  registry->tick(clock.steady);  // a snapshot of a moment ago must not shrink the window to nothing
  const std::string json = registry->stats_json(clock.steady);
  EXPECT_NE(json.find("\"window_seconds\":10,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"rate\":2,"), std::string::npos) << json;
}

TEST_F(Registry, RoutesReportListsConfiguredAndLearnedTemplatesAsPasteableYaml) {
  make(1);
  for (int i = 0; i < 3; ++i) w().record(Exchange("GET", "/api/search").route(1, "/api/search"));
  for (int i = 0; i < 7; ++i) w().record(Exchange("GET", std::string("/users/") + std::to_string(i) + std::string("/orders/") + std::to_string(i)));
  w().record(Exchange("GET", "/health"));
  const std::string report = registry->routes_report();
  EXPECT_NE(report.find("/api/search"), std::string::npos) << report;
  EXPECT_NE(report.find("routes:\n  - name: learned_users_id_orders_id_2  # 7 requests\n    template: /users/{id}/orders/{id_2}\n"),
            std::string::npos) << report;
  EXPECT_NE(report.find("  - name: learned_health  # 1 requests\n    exact: /health\n"), std::string::npos) << report;
}

TEST_F(Registry, ExportedRequestsLeaveExemplarsOnTheirDurationBuckets) {
  make(2);
  RequestRecord traced = Exchange("GET", "/api/orders/1").route(0, "/api/orders/{id}").took(20ms);
  traced.wall_start = std::chrono::system_clock::time_point{} + std::chrono::seconds(1'700'000'000);
  traced.trace.active = traced.trace.sampled = traced.trace.exported = true;
  for (std::uint8_t i = 0; i < 16; ++i) traced.trace.trace_id[i] = static_cast<std::uint8_t>(0xa0 + i);
  traced.trace.server_span_id = {1, 2, 3, 4, 5, 6, 7, 8};
  traced.trace.client_span_id = {9, 9, 9, 9, 9, 9, 9, 9};
  w(0).record(Exchange("GET", "/api/orders/2").route(0, "/api/orders/{id}").took(20ms));  // not exported
  w(1).record(traced);
  const Exposition e = registry->collect_exposition();
  const std::string text = serialize_openmetrics(e.families, e.extras);
  // 20 ms falls in the 0.025 bucket: the exemplar is there, with the server span and the observed value.
  EXPECT_NE(
      text.find(
          "http_server_request_duration_seconds_bucket{service=\"shop\",http_route=\"/api/orders/{id}\","
          "http_request_method=\"GET\",network_protocol_version=\"1.1\",http_response_status_code=\"200\",le="
          "\"0.025\"} 2 # {trace_id=\""
          "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\",span_id=\"0102030405060708\"} 0.02 1700000000.02"),
      std::string::npos)
      << text;
  // The upstream exchange (1 ms to 9 ms: 8 ms) carries the client span.
  EXPECT_NE(text.find("span_id=\"0909090909090909\"} 0.008"), std::string::npos) << text;
  // Exactly one exemplar per family: the untraced request left none.
  std::size_t count = 0;
  for (std::size_t at = text.find("# {trace_id"); at != std::string::npos; at = text.find("# {trace_id", at + 1)) ++count;
  EXPECT_EQ(count, 2u);
}

TEST(ExemplarSlots, KeepTheLatestPerBucketAndStayEmptyUntilUsed) {
  ExemplarSlots slots;
  EXPECT_EQ(slots.size(), 0u);
  ExemplarData out;
  EXPECT_FALSE(slots.read(0, out));
  const std::vector<double> bounds{0.1, 1.0};
  slots.record(bounds, {{1}, {2}, 0.05, 10.0});
  slots.record(bounds, {{3}, {4}, 0.07, 11.0});
  slots.record(bounds, {{5}, {6}, 5.0, 12.0});
  ASSERT_EQ(slots.size(), 3u);
  ASSERT_TRUE(slots.read(0, out));
  EXPECT_EQ(out.trace_id[0], 3);
  EXPECT_EQ(out.span_id[0], 4);
  EXPECT_DOUBLE_EQ(out.value, 0.07);
  EXPECT_FALSE(slots.read(1, out));
  ASSERT_TRUE(slots.read(2, out));  // +Inf
  EXPECT_DOUBLE_EQ(out.timestamp, 12.0);
}

}  // namespace
}  // namespace apimeter::metrics
