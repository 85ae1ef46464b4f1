// Shared by the integration tests: a demo upstream plus an apimeter in front of it, request builders, one-shot
// exchanges, temporary config files and bounded polling. Test files include it; it owns no test cases and
// must not hide an assertion a test should make itself.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/raw_client.hpp"

namespace apimeter::test {

inline constexpr Millis kIo = 5s;  // bound on one exchange that should be quick

// A demo upstream and an apimeter forwarding to it.
struct Stack {
  DemoUpstream upstream;
  Apimeter proxy;
  std::uint16_t port() const { return proxy.port; }
};

// `args` come after `--upstream 127.0.0.1:<demo port>`; add more flags (limits, timeouts, --config) there.
inline Stack start_stack(std::vector<std::string> args = {}, std::vector<std::string> demo_args = {}) {
  Stack stack;
  stack.upstream = start_demo_upstream(std::move(demo_args));
  std::vector<std::string> all{"--upstream", stack.upstream.address()};
  all.insert(all.end(), args.begin(), args.end());
  stack.proxy = start_apimeter(std::move(all));
  return stack;
}

// "GET path HTTP/1.1" with Host and any `extra` header lines (each ending in CRLF).
inline std::string get_request(std::string_view path, std::string_view extra = "", std::string_view method = "GET") {
  return std::string(method) + " " + std::string(path) + " HTTP/1.1\r\nHost: test.local\r\n" + std::string(extra) +
         "\r\n";
}

// A request with a Content-Length body.
inline std::string body_request(std::string_view method, std::string_view path, std::string_view body,
                                std::string_view extra = "") {
  return std::string(method) + " " + std::string(path) + " HTTP/1.1\r\nHost: test.local\r\n" + std::string(extra) +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// Connects, sends `request` and reads the final response.
inline HttpResponse round_trip(std::uint16_t port, std::string_view request, Millis timeout = kIo,
                             const ReadOptions& options = {}) {
  RawConnection connection = RawConnection::connect(port);
  if (!connection.send(request)) {
    HttpResponse failed;
    failed.error = "send failed";
    return failed;
  }
  return read_final_response(connection, timeout, options);
}

// The bytes demo_upstream's /bytes/{n} generates: offset i holds kAlphabet[i % 64].
inline std::string demo_pattern(std::size_t n) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = kAlphabet[i % kAlphabet.size()];
  return out;
}

// Lines of a /headers body after the request line, as "Name: value" strings.
inline std::vector<std::string> body_lines(std::string_view body) {
  std::vector<std::string> lines;
  while (!body.empty()) {
    auto nl = body.find('\n');
    lines.emplace_back(body.substr(0, nl));
    if (nl == std::string_view::npos) break;
    body.remove_prefix(nl + 1);
  }
  return lines;
}

// The value of `name` in a /headers echo (first occurrence, case-insensitive); nullopt when absent.
inline std::optional<std::string> echoed_header(std::string_view body, std::string_view name) {
  for (const auto& line : body_lines(body)) {
    auto colon = line.find(": ");
    if (colon != std::string::npos && iequals(std::string_view(line).substr(0, colon), name))
      return line.substr(colon + 2);
  }
  return std::nullopt;
}

inline std::size_t echoed_header_count(std::string_view body, std::string_view name) {
  std::size_t n = 0;
  for (const auto& line : body_lines(body)) {
    auto colon = line.find(": ");
    if (colon != std::string::npos && iequals(std::string_view(line).substr(0, colon), name)) ++n;
  }
  return n;
}

// A file under the test's temporary directory with `content`; its path.
// The current test's own temporary directory (created on first use).
inline std::filesystem::path test_temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "apimeter_it" /
                              (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::create_directories(dir);
  return dir;
}

inline std::string write_temp_file(std::string_view name, std::string_view content) {
  auto path = test_temp_dir() / std::string(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path.string();
}

// Polls `condition` every `interval` until it holds or `timeout` passes; whether it held.
// Debian's Prometheus, for the tests that let a real one scrape apimeter.
inline constexpr std::string_view kPrometheus = "/usr/bin/prometheus";

// Arguments for a Prometheus on 127.0.0.1:`web_port` scraping `admin_port` every second, with a fresh
// config and TSDB in the test's temp dir; `extra` adds flags (feature flags).
inline std::vector<std::string> prometheus_args(std::uint16_t admin_port, std::uint16_t web_port,
                                                std::vector<std::string> extra = {}) {
  const std::string config = write_temp_file("prometheus.yml",
                                             "global:\n"
                                             "  scrape_interval: 1s\n"
                                             "  scrape_timeout: 1s\n"
                                             "  evaluation_interval: 1s\n"
                                             "scrape_configs:\n"
                                             "  - job_name: apimeter\n"
                                             "    static_configs:\n"
                                             "      - targets: ['127.0.0.1:" +
                                                 std::to_string(admin_port) + "']\n");
  const std::filesystem::path data = test_temp_dir() / "tsdb";
  std::filesystem::remove_all(data);
  std::vector<std::string> args{"--config.file=" + config, "--storage.tsdb.path=" + data.string(),
                                "--web.listen-address=127.0.0.1:" + std::to_string(web_port),
                                "--storage.tsdb.retention.time=1h", "--log.level=warn"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// Stops a Prometheus started with prometheus_args() and removes its TSDB.
inline void stop_prometheus(Process& prometheus) {
  prometheus.send_signal(SIGTERM);
  if (!prometheus.wait_exit(std::chrono::seconds(20))) prometheus.kill();
  std::filesystem::remove_all(test_temp_dir() / "tsdb");
}

inline bool poll_until(const std::function<bool()>& condition, Millis timeout, Millis interval = 10ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

// GET `path` on the admin listener; the status, 0 when no answer.
inline int admin_status(std::uint16_t admin_port, std::string_view path) {
  std::optional<RawConnection> connection;
  if (RawConnection::try_connect(admin_port, 2s, connection) != 0) return 0;
  if (!connection->send(get_request(path, "Connection: close\r\n"))) return 0;
  return read_response(*connection, 2s).status;
}

// Sends SIGHUP and waits for the stderr line that reports the reload's outcome; its message
// ("configuration reloaded", "reload rejected; ..."), or "no reload outcome logged" after `timeout`.
inline std::string reload_apimeter(Apimeter& proxy, Millis timeout = 10s) {
  const std::size_t from = proxy.proc().err().size();
  proxy.proc().send_signal(SIGHUP);
  auto line = proxy.proc().err().wait_for(
      [](std::string_view text) {
        auto message = json_field(text, "message");
        return message && (*message == "configuration reloaded" || message->starts_with("reload rejected"));
      },
      timeout, from);
  return line ? json_field(*line, "message").value_or("") : "no reload outcome logged";
}

// Milliseconds since `start`.
inline long long elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace apimeter::test

// ---- Admin GETs and the Prometheus text exposition (for the metrics tests) -------------------------------

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>

namespace apimeter::test {

// GET `path` on `port` (the admin listener, or any HTTP server) with `extra` header lines; the response,
// status 0 when none arrived (see its error).
inline HttpResponse http_get(std::uint16_t port, std::string_view path, std::string_view extra = "",
                             Millis timeout = kIo) {
  std::optional<RawConnection> connection;
  HttpResponse failed;
  if (RawConnection::try_connect(port, timeout, connection) != 0) {
    failed.error = "connect failed";
    return failed;
  }
  if (!connection->send(get_request(path, std::string(extra) + "Connection: close\r\n"))) {
    failed.error = "send failed";
    return failed;
  }
  return read_final_response(*connection, timeout);
}

using MetricLabels = std::map<std::string, std::string, std::less<>>;

// One sample line of the text format: `name{labels} value`.
struct MetricSample {
  std::string name;
  MetricLabels labels;
  double value = 0;
};

// A parsed text exposition (Prometheus 0.0.4; OpenMetrics sample lines parse the same way).
struct MetricsText {
  std::vector<MetricSample> samples;
  std::map<std::string, std::string, std::less<>> types;  // family -> "# TYPE" value
  std::string error;                                      // the first line that did not parse; empty if none

  // Samples named `name` whose labels include every pair of `match`.
  std::vector<const MetricSample*> select(std::string_view name, const MetricLabels& match = {}) const {
    std::vector<const MetricSample*> out;
    for (const auto& sample : samples) {
      if (sample.name != name) continue;
      bool all = true;
      for (const auto& [key, value] : match) {
        auto it = sample.labels.find(key);
        if (it == sample.labels.end() || it->second != value) all = false;
      }
      if (all) out.push_back(&sample);
    }
    return out;
  }
  // The value of the one sample select() finds; nullopt when it finds none or several.
  std::optional<double> value(std::string_view name, const MetricLabels& match = {}) const {
    auto found = select(name, match);
    if (found.size() != 1) return std::nullopt;
    return found.front()->value;
  }
  // Sum over select(); 0 when it finds none.
  double sum(std::string_view name, const MetricLabels& match = {}) const {
    double total = 0;
    for (const auto* sample : select(name, match)) total += sample->value;
    return total;
  }
  // Distinct values of `label` over the samples named `name` (samples without it are skipped).
  std::set<std::string> label_values(std::string_view name, std::string_view label) const {
    std::set<std::string> out;
    for (const auto& sample : samples) {
      if (sample.name != name) continue;
      if (auto it = sample.labels.find(label); it != sample.labels.end()) out.insert(it->second);
    }
    return out;
  }
};

// Parses sample lines (`name`, `name{a="x",b="y\"z"}`, value, optional timestamp or exemplar ignored) and
// "# TYPE" lines; stops at the first malformed line and reports it in `error`.
inline MetricsText parse_metrics_text(std::string_view text) {
  MetricsText out;
  auto is_name_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':';
  };
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty()) continue;
    if (line.front() == '#') {
      if (line.starts_with("# TYPE ")) {
        std::string_view rest = line.substr(7);
        auto space = rest.find(' ');
        if (space != std::string_view::npos)
          out.types[std::string(rest.substr(0, space))] = rest.substr(space + 1);
      }
      continue;
    }
    MetricSample sample;
    std::size_t i = 0;
    while (i < line.size() && is_name_char(line[i])) ++i;
    sample.name = line.substr(0, i);
    bool ok = !sample.name.empty();
    if (ok && i < line.size() && line[i] == '{') {
      ++i;
      while (ok && i < line.size() && line[i] != '}') {
        std::size_t start = i;
        while (i < line.size() && is_name_char(line[i])) ++i;
        std::string key(line.substr(start, i - start));
        if (key.empty() || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
          ok = false;
          break;
        }
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\' && i + 1 < line.size()) {
            char escaped = line[++i];
            value.push_back(escaped == 'n' ? '\n' : escaped);
          } else {
            value.push_back(line[i]);
          }
          ++i;
        }
        if (i >= line.size()) {
          ok = false;
          break;
        }
        ++i;  // closing quote
        ok = sample.labels.emplace(std::move(key), std::move(value)).second;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (ok && i < line.size())
        ++i;  // '}'
      else
        ok = false;
    }
    if (ok && (i >= line.size() || line[i] != ' ')) ok = false;
    if (ok) {
      std::string_view rest = line.substr(i + 1);
      std::string number(rest.substr(0, rest.find(' ')));
      char* end = nullptr;
      sample.value = std::strtod(number.c_str(), &end);
      ok = !number.empty() && end == number.c_str() + number.size();
    }
    if (!ok) {
      out.error = std::string(line);
      return out;
    }
    out.samples.push_back(std::move(sample));
  }
  return out;
}

// GET /metrics (with `extra` header lines) and parse it; `error` says why when the scrape failed.
inline MetricsText scrape_metrics(std::uint16_t admin_port, std::string_view extra = "") {
  HttpResponse response = http_get(admin_port, "/metrics", extra);
  if (response.status != 200 || !response.complete) {
    MetricsText failed;
    failed.error = "scrape failed: status " + std::to_string(response.status) + " " + response.error;
    return failed;
  }
  return parse_metrics_text(response.body);
}

// Every histogram of `metrics` checked for internal consistency: per label set, cumulative bucket counts
// never decrease with `le`, the +Inf bucket equals _count, and _sum is 0 when _count is. One message per
// problem; empty when there is none.
inline std::vector<std::string> histogram_problems(const MetricsText& metrics) {
  std::vector<std::string> problems;
  auto key_of = [](const MetricLabels& labels) {
    std::string key;
    for (const auto& [k, v] : labels)
      if (k != "le") key += k + "=" + v + ",";
    return key;
  };
  for (const auto& [family, type] : metrics.types) {
    if (type != "histogram") continue;
    std::map<std::string, std::vector<std::pair<double, double>>> buckets;  // label set -> (le, count)
    std::map<std::string, double> counts, sums;
    for (const auto& sample : metrics.samples) {
      if (sample.name == family + "_bucket") {
        auto le = sample.labels.find("le");
        if (le == sample.labels.end()) {
          problems.push_back(family + "_bucket without le");
          continue;
        }
        buckets[key_of(sample.labels)].emplace_back(std::strtod(le->second.c_str(), nullptr), sample.value);
      } else if (sample.name == family + "_count") {
        counts[key_of(sample.labels)] = sample.value;
      } else if (sample.name == family + "_sum") {
        sums[key_of(sample.labels)] = sample.value;
      }
    }
    for (auto& [key, list] : buckets) {
      std::sort(list.begin(), list.end());
      for (std::size_t i = 1; i < list.size(); ++i)
        if (list[i].second < list[i - 1].second)
          problems.push_back(family + "{" + key + "} bucket le=" + std::to_string(list[i].first) +
                             " below the previous");
      if (list.empty() || !std::isinf(list.back().first)) {
        problems.push_back(family + "{" + key + "} has no +Inf bucket");
        continue;
      }
      if (!counts.contains(key) || counts[key] != list.back().second)
        problems.push_back(family + "{" + key + "} +Inf bucket differs from _count");
      if (!sums.contains(key))
        problems.push_back(family + "{" + key + "} has no _sum");
      else if (counts[key] == 0 && sums[key] != 0)
        problems.push_back(family + "{" + key + "} _sum without observations");
    }
    for (const auto& [key, count] : counts)
      if (!buckets.contains(key)) problems.push_back(family + "{" + key + "} has _count but no buckets");
  }
  return problems;
}

}  // namespace apimeter::test

namespace apimeter::test {

// Scrapes /metrics until `done` holds for a scrape that parsed, or `timeout` passes; the last scrape.
// Requests are charged when the proxy has finished writing the response, which may be just after the client
// read it, so a test waits for the count it expects before asserting values.
inline MetricsText scrape_until(std::uint16_t admin_port, const std::function<bool(const MetricsText&)>& done,
                                Millis timeout = kIo) {
  MetricsText last;
  poll_until(
      [&] {
        last = scrape_metrics(admin_port);
        return last.error.empty() && done(last);
      },
      timeout);
  return last;
}

// scrape_until() the requests counted (http_server_request_duration_seconds_count over all series) reach
// `requests`, and so do the per-user counts where users are tracked: a request's families are charged one
// after another, users last, so a scrape between them sees the request but not yet its user.
inline MetricsText scrape_after_requests(std::uint16_t admin_port, double requests, Millis timeout = kIo) {
  return scrape_until(
      admin_port,
      [&](const MetricsText& metrics) {
        const std::string users = "apimeter_user_requests_total";
        return metrics.sum("http_server_request_duration_seconds_count") >= requests &&
               (metrics.select(users).empty() || metrics.sum(users) >= requests);
      },
      timeout);
}

}  // namespace apimeter::test
