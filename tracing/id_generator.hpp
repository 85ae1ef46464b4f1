// Random trace and span ids for one worker: xoshiro256** seeded once from the OS, so the request path
// never makes a syscall for randomness. Not thread-safe: one per worker thread.
#pragma once

#include <cstdint>
#include <random>

#include "common/trace_context.hpp"

namespace apimeter::tracing {

class IdGenerator {
 public:
  IdGenerator() {
    std::random_device device;
    for (auto& word : state_) word = (static_cast<std::uint64_t>(device()) << 32) ^ device();
    state_[0] |= 1;  // the all-zero state is the one xoshiro cannot leave
  }
  explicit IdGenerator(std::uint64_t seed) noexcept {
    for (auto& word : state_) word = seed = splitmix(seed);
  }

  TraceId trace_id() noexcept {
    TraceId id;
    do {
      store(next(), id.data());
      store(next(), id.data() + 8);
    } while (is_zero(id));
    return id;
  }
  SpanId span_id() noexcept {
    SpanId id;
    do store(next(), id.data());
    while (is_zero(id));
    return id;
  }

 private:
  static std::uint64_t splitmix(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  static void store(std::uint64_t v, std::uint8_t* out) noexcept {
    for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<std::uint8_t>(v);
  }
  template <typename Id>
  static bool is_zero(const Id& id) noexcept {
    for (auto b : id)
      if (b != 0) return false;
    return true;
  }

  std::uint64_t state_[4];
};

}  // namespace apimeter::tracing
