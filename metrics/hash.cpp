// Implementation of the hashes in hash.hpp: a murmur3-style 8-bytes-at-a-time mix with a full-avalanche
// finalizer, and the reference SipHash-2-4. Must stay allocation-free: it runs on the request path.
#include "metrics/hash.hpp"

#include <bit>
#include <cstring>

namespace apimeter::metrics {
namespace {

constexpr std::uint64_t kMul1 = 0x87c37b91114253d5ULL;
constexpr std::uint64_t kMul2 = 0x4cf5ad432745937fULL;

std::uint64_t fmix64(std::uint64_t k) noexcept {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

std::uint64_t load64(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::uint64_t load_tail(const char* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  std::memcpy(&v, p, n);
  return v;
}

}  // namespace

std::uint64_t hash64(std::string_view data, std::uint64_t seed) noexcept {
  const char* p = data.data();
  std::size_t n = data.size();
  std::uint64_t h = seed ^ (static_cast<std::uint64_t>(n) * 0x9e3779b97f4a7c15ULL);
  while (n >= 8) {
    std::uint64_t k = load64(p) * kMul1;
    k = std::rotl(k, 31) * kMul2;
    h ^= k;
    h = std::rotl(h, 27) * 5 + 0x52dce729;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    std::uint64_t k = load_tail(p, n) * kMul2;
    k = std::rotl(k, 33) * kMul1;
    h ^= k;
  }
  return fmix64(h);
}

std::uint64_t hash_combine(std::uint64_t h, std::uint64_t value) noexcept {
  return fmix64(h ^ (value + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
}

SipKey SipKey::from_secret(std::string_view secret) noexcept {
  if (secret.empty()) return SipKey{};
  SipKey base;
  // Two independent derivations give a 128-bit key from any secret length.
  return SipKey{siphash24(secret, base), siphash24(secret, SipKey{base.k1, base.k0})};
}

std::uint64_t siphash24(std::string_view data, const SipKey& key) noexcept {
  std::uint64_t v0 = 0x736f6d6570736575ULL ^ key.k0;
  std::uint64_t v1 = 0x646f72616e646f6dULL ^ key.k1;
  std::uint64_t v2 = 0x6c7967656e657261ULL ^ key.k0;
  std::uint64_t v3 = 0x7465646279746573ULL ^ key.k1;
  auto round = [&] {
    v0 += v1; v1 = std::rotl(v1, 13); v1 ^= v0; v0 = std::rotl(v0, 32);
    v2 += v3; v3 = std::rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = std::rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = std::rotl(v1, 17); v1 ^= v2; v2 = std::rotl(v2, 32);
  };
  const char* p = data.data();
  std::size_t n = data.size();
  const std::uint64_t last_byte = static_cast<std::uint64_t>(n & 0xff) << 56;
  while (n >= 8) {
    std::uint64_t m = load64(p);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
    p += 8;
    n -= 8;
  }
  std::uint64_t b = last_byte | load_tail(p, n);
  v3 ^= b;
  round();
  round();
  v0 ^= b;
  v2 ^= 0xff;
  round();
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

void write_hex64(std::uint64_t value, std::span<char, 16> out) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kHex[value & 15];
    value >>= 4;
  }
}

}  // namespace apimeter::metrics
