// String hashing for the metrics engine: a fast non-cryptographic 64-bit hash (hash tables, HyperLogLog,
// series fingerprints) and keyed SipHash-2-4 (exported user ids, API keys) so a personal id never leaves
// the process in a form a dictionary can reverse. Pure functions; no allocation, no state.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace apimeter::metrics {

// Well mixed in every bit (HyperLogLog uses the top and the bottom bits). Not collision resistant.
std::uint64_t hash64(std::string_view data, std::uint64_t seed = 0) noexcept;

// Combines another value into a running hash (series fingerprints over several labels).
std::uint64_t hash_combine(std::uint64_t h, std::uint64_t value) noexcept;

struct SipKey {
  std::uint64_t k0 = 0x736f6d6570736575ULL;  // fixed default: stable across restarts, not secret
  std::uint64_t k1 = 0x646f72616e646f6dULL;
  // A key derived from an operator-chosen secret (config); the empty secret gives the default key.
  static SipKey from_secret(std::string_view secret) noexcept;
};

std::uint64_t siphash24(std::string_view data, const SipKey& key) noexcept;

// 16 lowercase hex digits of `value` into `out` (exactly 16 chars).
void write_hex64(std::uint64_t value, std::span<char, 16> out) noexcept;

// Transparent hasher for unordered containers keyed by std::string and looked up by string_view, so a
// lookup on the request path never builds a std::string.
struct StringViewHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return static_cast<std::size_t>(hash64(s)); }
};

}  // namespace apimeter::metrics
