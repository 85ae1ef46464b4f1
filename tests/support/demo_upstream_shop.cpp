// The demo shop API: routes /api/* paths, draws latency and failures from the worker's PRNG, and renders
// small JSON documents. Catalogue data (names, prices, order contents) is a pure function of the id, so the
// same URL always returns the same document; only latency and injected failures come from the PRNG.
#include "tests/support/demo_upstream_shop.hpp"

#include <fmt/format.h>

#include <array>
#include <iterator>
#include <optional>

#include "tests/support/demo_upstream_text.hpp"

namespace apimeter::demo {
namespace {

namespace http = boost::beast::http;
using std::chrono::milliseconds;

constexpr std::array<std::string_view, 12> kProductNames = {
    "Espresso Cup", "Pour-Over Kettle", "Burr Grinder",  "Milk Frother",  "Coffee Scale", "French Press",
    "Moka Pot",     "Travel Mug",       "Cold Brew Jar", "Paper Filters", "Tamper",       "Knock Box"};
constexpr std::array<std::string_view, 4> kOrderStates = {"pending", "paid", "shipped", "delivered"};
constexpr std::uint64_t kPageSize = 10;

std::uint64_t price_cents(std::uint64_t product_id) {
  return 299 + mix(product_id) % 19700;
}

void append_product(std::string& out, std::uint64_t id) {
  auto const stock = mix(id ^ 0x5bd1e995) % 40;
  fmt::format_to(std::back_inserter(out),
                 R"({{"id":{},"name":"{}","price_cents":{},"currency":"EUR","in_stock":{},"stock":{}}})", id,
                 kProductNames[id % kProductNames.size()], price_cents(id), stock > 0, stock);
}

// A deterministic list of 1-3 line items seeded by `key`; returns the total in cents.
std::uint64_t append_items(std::string& out, std::uint64_t key) {
  std::uint64_t total = 0;
  auto const count = 1 + mix(key) % 3;
  out.append(R"("items":[)");
  for (std::uint64_t i = 0; i < count; ++i) {
    auto const product = 1 + mix(key * 31 + i) % Api::kMaxId;
    auto const quantity = 1 + mix(key * 17 + i) % 4;
    total += price_cents(product) * quantity;
    if (i != 0) out.push_back(',');
    fmt::format_to(std::back_inserter(out), R"({{"product_id":{},"quantity":{},"unit_price_cents":{}}})",
                   product, quantity, price_cents(product));
  }
  out.push_back(']');
  return total;
}

}  // namespace

ApiReply Shop::handle(ApiRequest const& request) {
  auto const method = request.method;
  auto const path = request.path;
  auto const query = request.query;
  constexpr std::string_view kRead = "GET, HEAD";
  bool const read = method == http::verb::get || method == http::verb::head;

  if (path == "/api/products") return read ? list_products(query) : method_not_allowed(kRead);
  if (path == "/api/orders") {
    return method == http::verb::post ? create_order(request.body_bytes) : method_not_allowed("POST");
  }
  if (path == "/api/search") return read ? search(query) : method_not_allowed(kRead);
  if (auto const id = id_segment(path, "/api/products/")) return read ? get_product(*id) : method_not_allowed(kRead);
  if (auto const id = id_segment(path, "/api/orders/")) return read ? get_order(*id) : method_not_allowed(kRead);
  if (auto const uid = id_between(path, "/api/users/", "/cart")) {
    return read ? get_cart(*uid) : method_not_allowed(kRead);
  }
  return error_reply(http::status::not_found, "no such resource");
}

ApiReply Shop::list_products(std::string_view query) {
  auto const delay = latency(1, 5);
  std::uint64_t page = 1;
  if (auto const text = query_param(query, "page")) {
    auto const parsed = parse_uint(*text);
    if (!parsed || *parsed == 0) {
      return error_reply(http::status::bad_request, "page must be 1 or more", delay);
    }
    page = *parsed;
  }
  ApiReply reply;
  reply.delay = delay;
  reply.body.append(R"({"products":[)");
  // Past the last page the list is empty, like any paginated API.
  auto const first = page <= kMaxId / kPageSize ? (page - 1) * kPageSize + 1 : kMaxId + 1;
  for (std::uint64_t id = first; id < first + kPageSize && id <= kMaxId; ++id) {
    if (id != first) reply.body.push_back(',');
    append_product(reply.body, id);
  }
  fmt::format_to(std::back_inserter(reply.body), R"(],"page":{},"per_page":{},"total":{}}})", page, kPageSize,
                 kMaxId);
  reply.body.push_back('\n');
  return reply;
}

ApiReply Shop::get_product(std::string_view id_text) {
  auto const delay = latency(1, 5);
  auto const id = existing_id(id_text);
  if (!id) return error_reply(http::status::not_found, "no such product", delay);
  ApiReply reply;
  reply.delay = delay;
  append_product(reply.body, *id);
  reply.body.push_back('\n');
  return reply;
}

ApiReply Shop::get_order(std::string_view id_text) {
  auto const delay = latency(5, 40);
  // Always draw, even for a 404, so one request's outcome never shifts the rest of the sequence.
  bool const fail = prng_.chance(100);
  auto const id = existing_id(id_text);
  if (!id) return error_reply(http::status::not_found, "no such order", delay);
  if (fail) return error_reply(http::status::internal_server_error, "order database timeout", delay);
  ApiReply reply;
  reply.delay = delay;
  fmt::format_to(std::back_inserter(reply.body), R"({{"id":{},"user":"u{}","status":"{}",)", *id,
                 1 + mix(*id) % 5000, kOrderStates[mix(*id ^ 0xabcdef) % kOrderStates.size()]);
  auto const total = append_items(reply.body, *id);
  fmt::format_to(std::back_inserter(reply.body), R"(,"total_cents":{},"currency":"EUR"}})", total);
  reply.body.push_back('\n');
  return reply;
}

ApiReply Shop::create_order(std::uint64_t body_bytes) {
  auto const delay = latency(5, 40);
  bool const fail = prng_.chance(200);
  auto const id = prng_.uniform(1, kMaxId);
  if (fail) {
    auto reply = error_reply(http::status::service_unavailable, "inventory service unavailable", delay);
    reply.retry_after = true;
    return reply;
  }
  ApiReply reply;
  reply.status = http::status::created;
  reply.delay = delay;
  reply.location = fmt::format("/api/orders/{}", id);
  fmt::format_to(std::back_inserter(reply.body), R"({{"id":{},"status":"created","received_bytes":{}}})", id,
                 body_bytes);
  reply.body.push_back('\n');
  return reply;
}

ApiReply Shop::get_cart(std::string_view uid) {
  auto const delay = latency(2, 10);
  // Numeric user ids share the catalogue's id space; other names (alice, u42) always exist.
  if (auto const numeric = parse_uint(uid); numeric && (*numeric == 0 || *numeric > kMaxId)) {
    return error_reply(http::status::not_found, "no such user", delay);
  }
  ApiReply reply;
  reply.delay = delay;
  reply.body.append(R"({"user":)");
  append_json_string(reply.body, uid);
  reply.body.push_back(',');
  auto const total = append_items(reply.body, hash_text(uid));
  fmt::format_to(std::back_inserter(reply.body), R"(,"total_cents":{},"currency":"EUR"}})", total);
  reply.body.push_back('\n');
  return reply;
}

ApiReply Shop::search(std::string_view query) {
  // 1% of searches hit the slow path (a cold index shard, say): 2.5 s.
  auto delay = latency(50, 300);
  if (prng_.chance(100)) delay = milliseconds(2500);
  auto const raw = query_param(query, "q");
  if (!raw || raw->empty()) return error_reply(http::status::bad_request, "missing query parameter q", delay);
  auto const q = url_decode(*raw);
  ApiReply reply;
  reply.delay = delay;
  reply.body.append(R"({"query":)");
  append_json_string(reply.body, q);
  reply.body.append(R"(,"results":[)");
  auto const key = hash_text(q);
  auto const count = mix(key) % 6;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (i != 0) reply.body.push_back(',');
    append_product(reply.body, 1 + mix(key + i + 1) % kMaxId);
  }
  fmt::format_to(std::back_inserter(reply.body), R"(],"took_ms":{}}})", delay.count());
  reply.body.push_back('\n');
  return reply;
}

}  // namespace apimeter::demo
