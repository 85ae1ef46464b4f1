// Cardinality attack: 100,000 distinct random paths and 100,000 distinct users through the proxy must leave
// the exported series within the configured caps (learned templates, top-K users, series budget) and the
// proxy's memory nearly where it was. Keep-alive connections on several client threads, pipelined.
#include <cinttypes>
#include <random>

#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

constexpr std::size_t kLearnedCap = 200;      // metrics.learned_templates default
constexpr std::size_t kConfiguredRoutes = 2;  // below
constexpr std::size_t kTopUsers = 20;         // metrics.top_users default
constexpr std::size_t kDistinct = 100'000;    // distinct paths and distinct users, as the issue fixes
constexpr std::size_t kHeavyEvery = 8;        // every 8th request is the heavy user's (12.5 % > 1/K)
// Requests so that those not from the heavy user are still kDistinct distinct users.
constexpr std::size_t kAttackRequests = kDistinct * kHeavyEvery / (kHeavyEvery - 1) + 1;
constexpr int kThreads = 4;
constexpr std::size_t kPipelineDepth = 16;
constexpr std::uint64_t kMaxRssGrowth = 20ull << 20;

// Letters outside the hex digits, so a word is never an id, hex or token to the templater: each one makes
// a template of its own until the learned cap is reached.
std::string word(std::uint64_t value, int length) {
  std::string out;
  for (int i = 0; i < length; ++i) {
    out.push_back(static_cast<char>('g' + value % 20));
    value /= 20;
  }
  return out;
}

// Request `i` of the attack: a distinct path (one in ten made of ids, the rest of words) and a distinct
// user, or the heavy user.
std::string attack_request(std::size_t i, std::uint64_t random) {
  std::string path;
  if (i % 10 == 0) {
    char uuid[40];
    std::snprintf(uuid, sizeof uuid, "%08" PRIx64 "-0000-4000-8000-%012zx", random & 0xffffffffu, i);
    path = "/x/" + std::to_string(i) + "/y/" + uuid;
  } else {
    path = "/x/" + word(i, 4) + word(random, 4) + "/y/" + word(random >> 20, 6);
  }
  std::string user =
      i % kHeavyEvery == 0 ? "heavy" : "user-" + std::to_string(i) + "-" + std::to_string(random % 1000003);
  return "GET " + path + " HTTP/1.1\r\nHost: attack.test\r\nX-User-Id: " + user + "\r\n\r\n";
}

// Sends requests [begin, end) as `make(i)` on keep-alive connections, kPipelineDepth at a time, and reads
// every response; counts the responses whose status is not `expected` (or that did not arrive).
std::size_t drive(std::uint16_t port, std::size_t begin, std::size_t end, int expected,
                  const std::function<std::string(std::size_t)>& make) {
  std::size_t failures = 0;
  std::optional<RawConnection> connection;
  ReadOptions options;
  options.keep_body = false;
  for (std::size_t i = begin; i < end;) {
    if (!connection && RawConnection::try_connect(port, 10s, connection) != 0) return failures + (end - i);
    std::size_t n = std::min(kPipelineDepth, end - i);
    std::string batch;
    for (std::size_t j = 0; j < n; ++j) batch += make(i + j);
    if (!connection->send(batch, 30s)) return failures + (end - i);
    bool reconnect = false;
    for (std::size_t j = 0; j < n; ++j) {
      HttpResponse response = read_response(*connection, 30s, options);
      if (response.status != expected || !response.complete) ++failures;
      if (response.status == 0) return failures + (end - i - j - 1);
      if (response.connection_has("close")) reconnect = true;
    }
    if (reconnect) connection.reset();
    i += n;
  }
  return failures;
}

TEST(MetricsCardinalityTest, DistinctPathsAndUsersStayWithinTheCapsAndMemory) {
  std::string config = write_temp_file("apimeter.yaml",
                                       "service: shop\n"
                                       "user_identity:\n"
                                       "  source: header\n"
                                       "routes:\n"
                                       "  - name: status\n"
                                       "    template: /status/{code}\n"
                                       "  - name: sink\n"
                                       "    exact: /sink\n");
  Stack stack = start_stack({"--config", config, "--access-log", "off"});
  const std::uint16_t admin = stack.proxy.admin_port;

  // Warm up on a configured route (allocator arenas, pools, a scrape) before the baseline.
  constexpr std::size_t kWarmup = 2000;
  const std::string warm = get_request("/status/200", "X-User-Id: warm\r\n");
  ASSERT_EQ(drive(stack.port(), 0, kWarmup, 200, [&](std::size_t) { return warm; }), 0u);
  ASSERT_TRUE(scrape_after_requests(admin, kWarmup).error.empty());
  auto baseline = stack.proxy.proc().rss_bytes();
  ASSERT_TRUE(baseline.has_value());

  auto start = std::chrono::steady_clock::now();
  std::vector<std::uint64_t> randoms(kAttackRequests);
  std::mt19937_64 random(20240531);
  for (auto& r : randoms) r = random();
  // A scraper like Prometheus, during the attack: every scrape parses, and none exports more series than
  // the caps allow at the end.
  std::atomic<bool> attacking{true};
  std::size_t scrapes = 0, max_user_series = 0, max_routes = 0;
  std::string scrape_error;
  std::thread scraper([&] {
    while (attacking) {
      MetricsText during = scrape_metrics(admin);
      if (!during.error.empty()) {
        scrape_error = during.error;
        break;
      }
      ++scrapes;
      max_user_series =
          std::max(max_user_series, during.label_values("apimeter_user_requests_total", "user").size());
      max_routes = std::max(
          max_routes, during.label_values("http_server_request_duration_seconds_count", "http_route").size());
      std::this_thread::sleep_for(200ms);  // pacing, like a scrape interval
    }
  });
  std::atomic<std::size_t> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::size_t begin = kAttackRequests * t / kThreads, end = kAttackRequests * (t + 1) / kThreads;
      failures +=
          drive(stack.port(), begin, end, 404, [&](std::size_t i) { return attack_request(i, randoms[i]); });
    });
  }
  for (auto& thread : threads) thread.join();
  long long attack_ms = elapsed_ms(start);
  attacking = false;
  scraper.join();
  EXPECT_EQ(scrape_error, "");
  EXPECT_GT(scrapes, 0u);
  EXPECT_LE(max_routes, kLearnedCap + kConfiguredRoutes + 1) << "during the attack";
  EXPECT_LE(max_user_series, kTopUsers + 2)
      << "user series during the attack, over " << scrapes << " scrapes";
  EXPECT_EQ(failures.load(), 0u) << "responses other than the upstream's 404";

  const double total = kWarmup + kAttackRequests;
  MetricsText metrics = scrape_after_requests(admin, total, 60s);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  auto rss = stack.proxy.proc().rss_bytes();
  auto peak = stack.proxy.proc().peak_rss_bytes();
  ASSERT_TRUE(rss.has_value());
  const std::string count = "http_server_request_duration_seconds_count";
  EXPECT_EQ(metrics.sum(count), total) << "every request counted once";
  EXPECT_EQ(metrics.sum("apimeter_metric_series_dropped_total"), 0);

  // Routes: the configured ones, at most the learned cap, and "_other" for the rest.
  std::set<std::string> routes = metrics.label_values(count, "http_route");
  EXPECT_LE(routes.size(), kLearnedCap + kConfiguredRoutes + 1);
  EXPECT_TRUE(routes.contains("_other"));
  EXPECT_TRUE(routes.contains("/status/{code}"));
  EXPECT_LE(metrics.value("apimeter_learned_routes", {{"service", "shop"}}).value_or(1e9), kLearnedCap);
  EXPECT_GT(metrics.sum(count, {{"http_route", "_other"}}), kAttackRequests / 2);

  // Users: K listed plus "_other" and "_none"; the heavy user (more than 1/K of the traffic) among them; the
  // sum over users is the total.
  const std::string users = "apimeter_user_requests_total";
  std::set<std::string> user_values = metrics.label_values(users, "user");
  EXPECT_LE(user_values.size(), kTopUsers + 2) << user_values.size() << " user series";
  EXPECT_TRUE(user_values.contains("heavy"));
  const double heavy_sent = (kAttackRequests + kHeavyEvery - 1) / kHeavyEvery;
  double heavy = metrics.value(users, {{"user", "heavy"}}).value_or(0);
  EXPECT_LE(heavy, heavy_sent);
  EXPECT_GE(heavy, 0.9 * heavy_sent);
  EXPECT_EQ(metrics.sum(users), total);
  EXPECT_LE(metrics.select("apimeter_user_active_requests").size(), kTopUsers * 2);

  // Every series: per route at most ~120 sample lines (seven histograms and two counters with the default
  // buckets come to about 100), plus a few hundred for users, connections and the process.
  EXPECT_LE(metrics.samples.size(), (kLearnedCap + kConfiguredRoutes + 1) * 120 + 500);

  // A configured route keeps its own label after the attack.
  HttpResponse after = round_trip(stack.port(), get_request("/status/200"));
  EXPECT_EQ(after.status, 200) << after.error;
  MetricsText last = scrape_after_requests(admin, total + 1);
  EXPECT_EQ(last.sum(count, {{"http_route", "/status/{code}"}}), kWarmup + 1);

  std::int64_t growth = static_cast<std::int64_t>(*rss) - static_cast<std::int64_t>(*baseline);
  std::printf(
      "[ INFO     ] %zu requests in %lld ms, %zu scrapes meanwhile; %zu routes, %zu user series (max %zu "
      "meanwhile), %zu samples; RSS %" PRIu64 " -> %" PRIu64 " bytes (%+" PRId64 "), peak %" PRIu64 "\n",
      kAttackRequests, attack_ms, scrapes, routes.size(), user_values.size(), max_user_series,
      metrics.samples.size(), *baseline, *rss, growth, peak.value_or(0));
  if (kSanitized) {
    std::printf("[ INFO     ] RSS growth not asserted under a sanitizer (shadow memory, quarantine)\n");
  } else {
    EXPECT_LT(growth, static_cast<std::int64_t>(kMaxRssGrowth));
  }
}

}  // namespace
}  // namespace apimeter::test
