// The demo MES API and the order-event check of its worker. Documents are pure functions of the id;
// latency and failures come from the worker's PRNG.
#include "tests/support/demo_upstream_mes.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <iterator>

#include "tests/support/demo_upstream_text.hpp"

namespace apimeter::demo {
namespace {

namespace http = boost::beast::http;

constexpr std::array<std::string_view, 4> kWorkOrderStates = {"queued", "in_progress", "quality_check", "done"};
constexpr std::array<std::string_view, 3> kMachineStates = {"running", "idle", "maintenance"};
constexpr std::uint64_t kMachines = 64;
// 3D models are 256 KiB to 1 MiB.
constexpr std::uint64_t kMinModelBytes = 256 * 1024;
constexpr std::uint64_t kMaxModelBytes = 1024 * 1024;

// A tiny recursive-descent reader over the order event grammar; every step skips leading whitespace.
class EventReader {
 public:
  explicit EventReader(std::string_view text) : text_(text) {}

  bool literal(std::string_view token) {
    skip_space();
    if (!text_.substr(pos_).starts_with(token)) return false;
    pos_ += token.size();
    return true;
  }
  // A positive decimal integer without sign or leading zero.
  bool positive_number() {
    skip_space();
    auto const start = pos_;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    auto const digits = text_.substr(start, pos_ - start);
    auto const value = parse_uint(digits);
    return value && *value > 0 && digits.front() != '0';
  }
  // A non-empty JSON string of printable ASCII without escapes (SKUs are plain codes).
  bool plain_string() {
    if (!literal("\"")) return false;
    auto const start = pos_;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      auto const c = static_cast<unsigned char>(text_[pos_]);
      if (c < 0x20 || c > 0x7e || c == '\\') return false;
      ++pos_;
    }
    if (pos_ == start || pos_ == text_.size()) return false;
    ++pos_;
    return true;
  }
  bool at_end() {
    skip_space();
    return pos_ == text_.size();
  }

 private:
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' ||
                                   text_[pos_] == '\t')) {
      ++pos_;
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

bool read_item(EventReader& in) {
  return in.literal("{") && in.literal("\"sku\"") && in.literal(":") && in.plain_string() && in.literal(",") &&
         in.literal("\"qty\"") && in.literal(":") && in.positive_number() && in.literal("}");
}

}  // namespace

bool order_event_is_valid(std::string_view event) {
  EventReader in(event);
  if (!(in.literal("{") && in.literal("\"order_id\"") && in.literal(":") && in.positive_number() &&
        in.literal(",") && in.literal("\"customer_id\"") && in.literal(":") && in.positive_number() &&
        in.literal(",") && in.literal("\"items\"") && in.literal(":") && in.literal("[") && read_item(in))) {
    return false;
  }
  while (in.literal(",")) {
    if (!read_item(in)) return false;
  }
  return in.literal("]") && in.literal("}") && in.at_end();
}

ApiReply Mes::handle(ApiRequest const& request) {
  constexpr std::string_view kRead = "GET, HEAD";
  bool const read = request.method == http::verb::get || request.method == http::verb::head;
  auto const path = request.path;

  if (path == "/api/work-orders") return read ? list_work_orders() : method_not_allowed(kRead);
  if (path == "/api/schedule") return read ? schedule() : method_not_allowed(kRead);
  if (auto const id = id_segment(path, "/api/work-orders/")) {
    return read ? get_work_order(*id) : method_not_allowed(kRead);
  }
  if (auto const id = id_between(path, "/api/machines/", "/status")) {
    return read ? machine_status(*id) : method_not_allowed(kRead);
  }
  if (auto const id = id_between(path, "/api/machines/", "/telemetry")) {
    return request.method == http::verb::post ? record_telemetry(*id, request.body_bytes)
                                              : method_not_allowed("POST");
  }
  if (auto const id = id_between(path, "/api/parts/", "/model")) {
    return read ? part_model(*id) : method_not_allowed(kRead);
  }
  if (auto const id = id_segment(path, "/api/quality/reports/")) {
    return read ? quality_report(*id) : method_not_allowed(kRead);
  }
  return error_reply(http::status::not_found, "no such resource");
}

ApiReply Mes::list_work_orders() {
  ApiReply reply;
  reply.delay = prng_.millis(5, 20);
  auto const accepted = intake_ ? intake_->accepted.load(std::memory_order_relaxed) : 0;
  auto const rejected = intake_ ? intake_->rejected.load(std::memory_order_relaxed) : 0;
  reply.body.append(R"({"work_orders":[)");
  auto const first = prng_.uniform(1, kMaxId - 10);
  for (std::uint64_t id = first; id < first + 10; ++id) {
    if (id != first) reply.body.push_back(',');
    fmt::format_to(std::back_inserter(reply.body), R"({{"id":{},"state":"{}"}})", id,
                   kWorkOrderStates[mix(id) % kWorkOrderStates.size()]);
  }
  fmt::format_to(std::back_inserter(reply.body), R"(],"order_events_accepted":{},"order_events_rejected":{}}})",
                 accepted, rejected);
  reply.body.push_back('\n');
  return reply;
}

ApiReply Mes::get_work_order(std::string_view id_text) {
  auto const delay = prng_.millis(3, 12);
  auto const id = existing_id(id_text);
  if (!id) return error_reply(http::status::not_found, "no such work order", delay);
  ApiReply reply;
  reply.delay = delay;
  fmt::format_to(std::back_inserter(reply.body),
                 R"({{"id":{},"state":"{}","machine":{},"part":{},"quantity":{}}})" "\n", *id,
                 kWorkOrderStates[mix(*id) % kWorkOrderStates.size()], 1 + mix(*id ^ 0x11) % kMachines,
                 1 + mix(*id ^ 0x22) % kMaxId, 1 + mix(*id ^ 0x33) % 500);
  return reply;
}

ApiReply Mes::machine_status(std::string_view id_text) {
  auto const delay = prng_.millis(1, 5);
  auto const id = parse_uint(id_text);
  if (!id || *id == 0 || *id > kMachines) return error_reply(http::status::not_found, "no such machine", delay);
  ApiReply reply;
  reply.delay = delay;
  fmt::format_to(std::back_inserter(reply.body), R"({{"machine":{},"state":"{}","spindle_rpm":{}}})" "\n", *id,
                 kMachineStates[mix(*id) % kMachineStates.size()], 1000 + prng_.uniform(0, 11000));
  return reply;
}

ApiReply Mes::record_telemetry(std::string_view id_text, std::uint64_t body_bytes) {
  auto const delay = prng_.millis(1, 4);
  auto const id = parse_uint(id_text);
  if (!id || *id == 0 || *id > kMachines) return error_reply(http::status::not_found, "no such machine", delay);
  if (body_bytes == 0) return error_reply(http::status::bad_request, "telemetry samples are required", delay);
  ApiReply reply;
  reply.status = http::status::no_content;
  reply.delay = delay;
  return reply;
}

ApiReply Mes::part_model(std::string_view id_text) {
  auto const delay = prng_.millis(20, 80);
  auto const id = existing_id(id_text);
  if (!id) return error_reply(http::status::not_found, "no such part", delay);
  ApiReply reply;
  reply.delay = delay;
  // The same part always has the same model size.
  reply.download_bytes = kMinModelBytes + mix(*id) % (kMaxModelBytes - kMinModelBytes + 1);
  return reply;
}

ApiReply Mes::schedule() {
  ApiReply reply;
  // The slow route: the schedule is recomputed on every call, 0.8-1.8 s, and 2 % of the time 2.2-3 s (a
  // p95 just under the 2 s alert threshold: slow by nature, not alerting until it gets worse).
  reply.delay = prng_.millis(800, 1800);
  if (prng_.chance(200)) reply.delay = prng_.millis(2200, 3000);
  reply.body.append(R"({"shifts":[)");
  for (std::uint64_t machine = 1; machine <= kMachines; ++machine) {
    if (machine != 1) reply.body.push_back(',');
    fmt::format_to(std::back_inserter(reply.body), R"({{"machine":{},"work_order":{}}})", machine,
                   1 + prng_.uniform(0, kMaxId - 1));
  }
  reply.body.append("]}\n");
  return reply;
}

ApiReply Mes::quality_report(std::string_view id_text) {
  auto const delay = prng_.millis(300, 1800);
  bool const fail = prng_.chance(100);
  auto const id = existing_id(id_text);
  if (!id) return error_reply(http::status::not_found, "no such report", delay);
  if (fail) return error_reply(http::status::internal_server_error, "measurement archive timeout", delay);
  ApiReply reply;
  reply.delay = delay;
  fmt::format_to(std::back_inserter(reply.body), R"({{"id":{},"inspected":{},"defects":{}}})" "\n", *id,
                 100 + mix(*id) % 900, mix(*id ^ 0x44) % 7);
  return reply;
}

}  // namespace apimeter::demo
