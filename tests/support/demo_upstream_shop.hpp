// The demo shop API (the default shape of demo_upstream): decides status, latency and JSON body for
// /api/* requests from a seeded PRNG, so a run with the same --seed and request order replays the same
// latencies and failures.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "tests/support/demo_upstream_api.hpp"

namespace apimeter::demo {

// The shop: products, orders, carts and a search with a slow tail.
class Shop final : public Api {
 public:
  explicit Shop(std::uint64_t seed) : prng_(seed) {}

  ApiReply handle(ApiRequest const& request) override;

 private:
  ApiReply list_products(std::string_view query);
  ApiReply get_product(std::string_view id);
  ApiReply get_order(std::string_view id);
  ApiReply create_order(std::uint64_t body_bytes);
  ApiReply get_cart(std::string_view uid);
  ApiReply search(std::string_view query);

  std::chrono::milliseconds latency(std::uint64_t lo_ms, std::uint64_t hi_ms) {
    return prng_.millis(lo_ms, hi_ms);
  }

  Prng prng_;
};

}  // namespace apimeter::demo
