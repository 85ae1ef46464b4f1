// The demo shop API behind `make demo`: decides status, latency and JSON body for /api/* requests from a
// seeded PRNG, so a run with the same --seed and request order replays the same latencies and failures.
// Pure logic: no I/O, no timers, no Beast streams; the session waits out the latency it is told.
#pragma once

#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace apimeter::demo {

// splitmix64: tiny, fast, and good enough to pick latencies; the seed fully determines the sequence.
class Prng {
 public:
  explicit Prng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next();
  // Uniform in [lo, hi] (inclusive); the modulo bias is irrelevant at these ranges.
  std::uint64_t uniform(std::uint64_t lo, std::uint64_t hi) { return lo + next() % (hi - lo + 1); }
  // True with probability per_10000 / 10000.
  bool chance(unsigned per_10000) { return next() % 10000 < per_10000; }

 private:
  std::uint64_t state_;
};

// What the session sends for one shop request, after waiting `delay`.
struct ShopReply {
  boost::beast::http::status status = boost::beast::http::status::ok;
  std::chrono::milliseconds delay{0};
  std::string body;          // application/json
  std::string location;      // non-empty on 201: the new order's URL
  std::string_view allow;    // non-empty on 405: the Allow field value
  bool retry_after = false;  // 503: send "Retry-After: 1"
};

// One per worker thread; not thread-safe (the PRNG advances on every request).
class Shop {
 public:
  // Ids above this do not exist (404), so tests and load generators can ask for misses on purpose.
  static constexpr std::uint64_t kMaxId = 100000;

  explicit Shop(std::uint64_t seed) : prng_(seed) {}

  // Answers any /api/... path: unknown paths are a JSON 404, wrong methods a 405. `query` is the raw text
  // after '?'; `body_bytes` is the request body length the session has already read and discarded.
  ShopReply handle(boost::beast::http::verb method, std::string_view path, std::string_view query,
                   std::uint64_t body_bytes);

 private:
  ShopReply list_products(std::string_view query);
  ShopReply get_product(std::string_view id);
  ShopReply get_order(std::string_view id);
  ShopReply create_order(std::uint64_t body_bytes);
  ShopReply get_cart(std::string_view uid);
  ShopReply search(std::string_view query);

  std::chrono::milliseconds latency(std::uint64_t lo_ms, std::uint64_t hi_ms) {
    return std::chrono::milliseconds(prng_.uniform(lo_ms, hi_ms));
  }

  Prng prng_;
};

}  // namespace apimeter::demo
