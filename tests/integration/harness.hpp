// Shared by the integration tests: a demo upstream plus an apimeter in front of it, request builders, one-shot
// exchanges, temporary config files and bounded polling. Test files include it; it owns no test cases and
// must not hide an assertion a test should make itself.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
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
inline std::string write_temp_file(std::string_view name, std::string_view content) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "apimeter_it" /
                              (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::create_directories(dir);
  auto path = dir / std::string(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path.string();
}

// Polls `condition` every `interval` until it holds or `timeout` passes; whether it held.
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

// Milliseconds since `start`.
inline long long elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace apimeter::test
