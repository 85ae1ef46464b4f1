// Fault injection for the demo APIs, so a demo, a load generator or a test can make a service slow or
// failing on purpose: `POST /_demo/fault?delay=2500ms&error_percent=100&path_prefix=/api/orders` sets it
// (each parameter optional), `DELETE /_demo/fault` clears it, `GET /_demo/fault` shows it. One setting per
// process, shared by every worker through relaxed atomics; it is a demo control, not a proxy feature.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "tests/support/demo_upstream_api.hpp"

namespace apimeter::demo {

class FaultInjector {
 public:
  static constexpr std::size_t kMaxPrefix = 128;

  // Parses a query like "delay=2500ms&error_percent=30&path_prefix=/api/x" and applies it; an error message
  // on bad input (nothing changes then). Any thread.
  std::optional<std::string> set(std::string_view query);
  void clear();
  // The current setting as JSON. Any thread.
  std::string describe() const;

  // Applies the fault to a request for `path`: adds the delay to `reply` and, with the configured
  // probability (drawn from `prng`), turns it into an injected 500. Returns true when it changed anything.
  bool apply(std::string_view path, Prng& prng, ApiReply& reply) const;

 private:
  // A seqlock over the setting: writers bump generation_ to odd, write, bump it to even; readers retry
  // while it is odd or changed. Writes are rare (a person or a test toggling faults).
  bool read_prefix(std::array<char, kMaxPrefix>& out, std::size_t& size) const;

  std::mutex writer_;  // one writer at a time; readers never take it
  std::atomic<std::uint32_t> delay_ms_{0};
  std::atomic<std::uint32_t> error_per_10000_{0};
  std::atomic<std::uint32_t> generation_{0};
  std::atomic<std::size_t> prefix_size_{0};
  std::array<std::atomic<char>, kMaxPrefix> prefix_{};
};

}  // namespace apimeter::demo
