// A real Prometheus (Debian package prometheus, /usr/bin/prometheus) scrapes apimeter every second while
// steady traffic runs on two routes at known rates; PromQL for RPS and p95 per route must return them.
// Prometheus runs on loopback with a temporary directory and is stopped at the end; without the binary the
// test skips (make test installs the package).
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <map>

#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

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

// The instant vector of an /api/v1/query answer as http_route -> value; `error` says why when it failed.
struct QueryResult {
  std::map<std::string, double> by_route;
  std::string body;
  std::string error;
};

QueryResult query(std::uint16_t port, std::string_view promql) {
  QueryResult out;
  HttpResponse response = http_get(port, "/api/v1/query?query=" + url_encode(promql));
  out.body = response.body;
  if (response.status != 200) {
    out.error = "status " + std::to_string(response.status) + " " + response.error + " " + response.body;
    return out;
  }
  if (response.body.find("\"status\":\"success\"") == std::string::npos) {
    out.error = response.body;
    return out;
  }
  // Each result is {"metric":{"http_route":"R"},"value":[T,"V"]}; Go's JSON leaves '/', '{' and '}' as they
  // are.
  std::string_view body = response.body;
  for (std::size_t at = body.find("\"http_route\":\""); at != std::string_view::npos;
       at = body.find("\"http_route\":\"", at + 1)) {
    std::size_t start = at + 14;
    std::size_t end = body.find('"', start);
    std::size_t value = body.find("\"value\":[", end);
    if (end == std::string_view::npos || value == std::string_view::npos) break;
    std::size_t quote = body.find(",\"", value);
    if (quote == std::string_view::npos) break;
    out.by_route[std::string(body.substr(start, end - start))] =
        std::strtod(body.data() + quote + 2, nullptr);
  }
  return out;
}

// One client thread sending GET `path` every `period` (a paced schedule, not synchronisation) on a kept-alive
// connection until stop(); counts the responses that were not 200.
class PacedClient {
 public:
  PacedClient(std::uint16_t port, std::string path, std::chrono::milliseconds period)
      : thread_([this, port, path = std::move(path), period] { run(port, path, period); }) {}
  ~PacedClient() { stop(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t sent() const { return sent_; }
  std::uint64_t failed() const { return failed_; }

 private:
  void run(std::uint16_t port, const std::string& path, std::chrono::milliseconds period) {
    std::optional<RawConnection> connection;
    const std::string request = get_request(path);
    auto next = std::chrono::steady_clock::now();
    while (!stopping_) {
      if (!connection && RawConnection::try_connect(port, 2s, connection) != 0) ++failed_;
      if (connection) {
        HttpResponse response;
        if (connection->send(request, 2s)) response = read_final_response(*connection, 5s);
        ++sent_;
        if (response.status != 200 || !response.complete) {
          ++failed_;
          connection.reset();
        }
      }
      next += period;
      std::this_thread::sleep_until(next);
    }
  }

  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::thread thread_;
};

TEST(MetricsPrometheusTest, PromqlRateAndP95PerRouteMatchTheTraffic) {
  if (::access(std::string(kPrometheus).c_str(), X_OK) != 0)
    GTEST_SKIP() << kPrometheus << " missing (Debian package prometheus; make test installs it)";
  std::string config = write_temp_file("apimeter.yaml",
                                       "service: shop\n"
                                       "routes:\n"
                                       "  - name: slow\n"
                                       "    template: /delay/{ms}\n"
                                       "  - name: fast\n"
                                       "    template: /bytes/{n}\n");
  Stack stack = start_stack({"--config", config, "--access-log", "off"});

  std::uint16_t prometheus_port = unused_port();
  Process prometheus(std::string(kPrometheus), prometheus_args(stack.proxy.admin_port, prometheus_port));
  ASSERT_TRUE(poll_until([&] { return admin_status(prometheus_port, "/-/ready") == 200; }, 60s, 100ms))
      << prometheus.describe();

  // Prometheus scrapes its first targets a few seconds after it is ready (discovery updates are batched):
  // the traffic starts once apimeter is being scraped, so every rate window below lies inside it.
  QueryResult up;
  ASSERT_TRUE(poll_until(
      [&] {
        up = query(prometheus_port, "up");
        return up.error.empty() && up.body.find(",\"1\"]") != std::string::npos;
      },
      60s, 200ms))
      << up.error << up.body << "\n"
      << prometheus.describe();

  // Known rates: /delay/100 five times a second, /bytes/10 twenty times a second.
  constexpr double kSlowRate = 5, kFastRate = 20;
  auto traffic_start = std::chrono::steady_clock::now();
  PacedClient slow(stack.port(), "/delay/100", 200ms);
  PacedClient fast(stack.port(), "/bytes/10", 50ms);

  // Wait until the 5 s rate window (and most of the 10 s one) lies inside the traffic, then query.
  const std::string rate_query = "sum by (http_route) (rate(http_server_request_duration_seconds_count[5s]))";
  const std::string p95_query =
      "histogram_quantile(0.95, sum by (le, http_route) "
      "(rate(http_server_request_duration_seconds_bucket[10s])))";
  QueryResult rates;
  bool ready = poll_until(
      [&] {
        if (elapsed_ms(traffic_start) < 7500) return false;
        rates = query(prometheus_port, rate_query);
        return rates.error.empty() && rates.by_route.size() == 2;
      },
      60s, 250ms);
  QueryResult p95 = query(prometheus_port, p95_query);
  slow.stop();
  fast.stop();
  EXPECT_EQ(slow.failed() + fast.failed(), 0u);
  ASSERT_TRUE(ready) << rates.error << rates.body << "\n" << prometheus.describe();

  EXPECT_EQ(rates.by_route.size(), 2u) << rates.body;
  EXPECT_NEAR(rates.by_route["/delay/{ms}"], kSlowRate, kSlowRate * 0.3) << rates.body;
  EXPECT_NEAR(rates.by_route["/bytes/{n}"], kFastRate, kFastRate * 0.3) << rates.body;

  ASSERT_TRUE(p95.error.empty()) << p95.error;
  std::printf("[ INFO     ] rate: slow %.3f/s fast %.3f/s; p95: slow %.4f s fast %.4f s\n",
              rates.by_route["/delay/{ms}"], rates.by_route["/bytes/{n}"], p95.by_route["/delay/{ms}"],
              p95.by_route["/bytes/{n}"]);
  // /delay/100 takes a little over 100 ms: in the (0.1, 0.25] bucket, so p95 interpolates inside it.
  EXPECT_GT(p95.by_route["/delay/{ms}"], 0.1) << p95.body;
  EXPECT_LE(p95.by_route["/delay/{ms}"], 0.25) << p95.body;
  EXPECT_GT(p95.by_route["/bytes/{n}"], 0) << p95.body;
  EXPECT_LE(p95.by_route["/bytes/{n}"], 0.1) << p95.body;

  stop_prometheus(prometheus);
}

}  // namespace
}  // namespace apimeter::test
