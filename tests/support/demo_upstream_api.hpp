// The demo APIs' common ground: the request an API sees, the reply it decides, the PRNG that draws its
// latencies and failures, and the helpers every shape (shop, CRM, MES) renders its JSON with. An API is
// pure logic: no I/O, no timers, no Beast streams; the session waits out the latency it is told.
#pragma once

#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
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
  // A latency uniform in [lo_ms, hi_ms].
  std::chrono::milliseconds millis(std::uint64_t lo_ms, std::uint64_t hi_ms) {
    return std::chrono::milliseconds(uniform(lo_ms, hi_ms));
  }

 private:
  std::uint64_t state_;
};

// One request as an API sees it, after the session has read the whole body.
struct ApiRequest {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string_view path;   // without the query
  std::string_view query;  // the raw text after '?'
  std::uint64_t body_bytes = 0;
  // The body's first bytes (at most kMaxCapturedBody); the rest was read and discarded.
  std::string_view body;
};

// What the session sends for one API request, after waiting `delay`.
struct ApiReply {
  boost::beast::http::status status = boost::beast::http::status::ok;
  std::chrono::milliseconds delay{0};
  std::string body;          // application/json
  std::string location;      // non-empty on 201: the new resource's URL
  std::string_view allow;    // non-empty on 405: the Allow field value
  bool retry_after = false;  // 503: send "Retry-After: 1"
  // Non-zero: instead of `body`, stream this many bytes of application/octet-stream (a file download).
  std::uint64_t download_bytes = 0;
};

// Where order events go (the CRM shape publishes them); implemented over AMQP in demo_upstream_amqp.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // Queues one event for publishing; false when it cannot be taken now (queue full, broker away).
  // Any thread.
  virtual bool publish(std::string_view routing_key, std::string_view body) = 0;
};

// One API shape. One instance per worker thread; not thread-safe (the PRNG advances on every request).
class Api {
 public:
  // Ids above this do not exist (404), so tests and load generators can ask for misses on purpose.
  static constexpr std::uint64_t kMaxId = 100000;
  // How much of a request body an API gets to see.
  static constexpr std::size_t kMaxCapturedBody = 16 * 1024;

  virtual ~Api() = default;
  // Answers any /api/... path: unknown paths are a JSON 404, wrong methods a 405.
  virtual ApiReply handle(ApiRequest const& request) = 0;
  // True when this API reads request bodies (the session then keeps their first kMaxCapturedBody bytes).
  virtual bool wants_body() const { return false; }
};

enum class Shape : std::uint8_t { shop, crm, mes };
std::optional<Shape> parse_shape(std::string_view name);

struct OrderIntake;

// The API of `shape` seeded with `seed`. `events` (where the CRM publishes orders) and `intake` (the MES
// worker's counts) may be null; both must outlive the API.
std::unique_ptr<Api> make_api(Shape shape, std::uint64_t seed, EventSink* events, OrderIntake const* intake);

// --- Helpers the shapes share --------------------------------------------------------------------------

// Stateless 64-bit mixer (the splitmix64 finalizer): derives stable attributes from an id.
constexpr std::uint64_t mix(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// FNV-1a: a stable hash of text (std::hash may differ between standard libraries, which would change the
// demo's documents from one build to the next).
constexpr std::uint64_t hash_text(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char const c : text) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

// A catalogue id in [1, Api::kMaxId], or nullopt for anything that does not name an existing item.
std::optional<std::uint64_t> existing_id(std::string_view text);

// "/api/products/42" with prefix "/api/products/" gives "42"; nullopt if the prefix does not match.
std::optional<std::string_view> after_prefix(std::string_view path, std::string_view prefix);

// The one id segment after `prefix` ("/api/x/42" → "42"), or nullopt when the rest has a further '/'.
std::optional<std::string_view> id_segment(std::string_view path, std::string_view prefix);

// "/api/x/42/suffix" with prefix "/api/x/" and suffix "/suffix" gives "42".
std::optional<std::string_view> id_between(std::string_view path, std::string_view prefix,
                                           std::string_view suffix);

ApiReply error_reply(boost::beast::http::status status, std::string_view message,
                     std::chrono::milliseconds delay = std::chrono::milliseconds{0});
ApiReply method_not_allowed(std::string_view allow);

}  // namespace apimeter::demo
