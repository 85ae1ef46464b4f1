// Fault injection for the demo APIs: parsing the control query, publishing it to every worker, applying it.
#include "tests/support/demo_upstream_fault.hpp"

#include <fmt/format.h>

#include "tests/support/demo_upstream_text.hpp"

namespace apimeter::demo {
namespace {

namespace http = boost::beast::http;

constexpr std::uint64_t kMaxFaultDelayMs = 10 * 60 * 1000;

// "2500ms", "3s" or plain milliseconds.
std::optional<std::uint64_t> parse_delay_ms(std::string_view text) {
  std::uint64_t scale = 1;
  if (text.ends_with("ms")) {
    text.remove_suffix(2);
  } else if (text.ends_with("s")) {
    text.remove_suffix(1);
    scale = 1000;
  }
  auto const value = parse_uint(text);
  if (!value || *value > kMaxFaultDelayMs / scale) return std::nullopt;
  return *value * scale;
}

}  // namespace

std::optional<std::string> FaultInjector::set(std::string_view query) {
  std::uint64_t delay_ms = 0;
  std::uint64_t percent = 0;
  std::string prefix;
  if (auto const text = query_param(query, "delay")) {
    auto const parsed = parse_delay_ms(*text);
    if (!parsed) return "delay must be like 2500ms or 3s (at most 10 minutes)";
    delay_ms = *parsed;
  }
  if (auto const text = query_param(query, "error_percent")) {
    auto const parsed = parse_uint(*text);
    if (!parsed || *parsed > 100) return "error_percent must be 0 to 100";
    percent = *parsed;
  }
  if (auto const text = query_param(query, "path_prefix")) {
    prefix = url_decode(*text);
    if (prefix.size() > kMaxPrefix || !prefix.starts_with('/')) {
      return fmt::format("path_prefix must start with / and have at most {} bytes", kMaxPrefix);
    }
  }
  std::lock_guard lock(writer_);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  for (std::size_t i = 0; i < prefix.size(); ++i) prefix_[i].store(prefix[i], std::memory_order_relaxed);
  prefix_size_.store(prefix.size(), std::memory_order_relaxed);
  delay_ms_.store(static_cast<std::uint32_t>(delay_ms), std::memory_order_relaxed);
  error_per_10000_.store(static_cast<std::uint32_t>(percent * 100), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return std::nullopt;
}

void FaultInjector::clear() {
  std::lock_guard lock(writer_);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  prefix_size_.store(0, std::memory_order_relaxed);
  delay_ms_.store(0, std::memory_order_relaxed);
  error_per_10000_.store(0, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

bool FaultInjector::read_prefix(std::array<char, kMaxPrefix>& out, std::size_t& size) const {
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto const before = generation_.load(std::memory_order_acquire);
    if (before % 2 != 0) continue;
    size = prefix_size_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < size; ++i) out[i] = prefix_[i].load(std::memory_order_relaxed);
    if (generation_.load(std::memory_order_acquire) == before) return true;
  }
  return false;
}

std::string FaultInjector::describe() const {
  std::array<char, kMaxPrefix> prefix{};
  std::size_t size = 0;
  read_prefix(prefix, size);
  std::string out = fmt::format(R"({{"delay_ms":{},"error_percent":{},"path_prefix":)",
                                delay_ms_.load(std::memory_order_relaxed),
                                error_per_10000_.load(std::memory_order_relaxed) / 100);
  append_json_string(out, std::string_view(prefix.data(), size));
  out.append("}\n");
  return out;
}

bool FaultInjector::apply(std::string_view path, Prng& prng, ApiReply& reply) const {
  auto const delay_ms = delay_ms_.load(std::memory_order_relaxed);
  auto const per_10000 = error_per_10000_.load(std::memory_order_relaxed);
  if (delay_ms == 0 && per_10000 == 0) return false;
  std::array<char, kMaxPrefix> prefix{};
  std::size_t size = 0;
  if (!read_prefix(prefix, size)) return false;
  if (!path.starts_with(std::string_view(prefix.data(), size))) return false;
  auto const delay = reply.delay + std::chrono::milliseconds(delay_ms);
  if (per_10000 > 0 && prng.chance(per_10000)) {
    reply = error_reply(http::status::internal_server_error, "injected fault", delay);
  } else {
    reply.delay = delay;
  }
  return true;
}

}  // namespace apimeter::demo
