// The demo CRM API. Customer and deal documents are pure functions of the id; latency and failures come
// from the worker's PRNG.
#include "tests/support/demo_upstream_crm.hpp"

#include <fmt/format.h>

#include <array>
#include <iterator>

#include "tests/support/demo_upstream_text.hpp"

namespace apimeter::demo {
namespace {

namespace http = boost::beast::http;

constexpr std::array<std::string_view, 8> kCompanies = {"Acme Tooling", "Northwind Parts", "Globex Castings",
                                                        "Initech Robotics", "Umbrella Plastics", "Hooli Optics",
                                                        "Vandelay Imports", "Stark Fixtures"};
constexpr std::array<std::string_view, 5> kDealStages = {"lead", "qualified", "proposal", "negotiation", "won"};
constexpr std::uint64_t kPageSize = 20;
// Rows in the pipeline report: about 40 KB of JSON.
constexpr std::uint64_t kReportRows = 400;

void append_customer(std::string& out, std::uint64_t id) {
  fmt::format_to(std::back_inserter(out),
                 R"({{"id":{},"company":"{}","contact":"contact{}@example.com","tier":"{}","open_deals":{}}})",
                 id, kCompanies[mix(id) % kCompanies.size()], id, mix(id ^ 0x77) % 3 == 0 ? "gold" : "standard",
                 mix(id ^ 0x31) % 6);
}

void append_deal(std::string& out, std::uint64_t customer, std::uint64_t n) {
  auto const key = mix(customer * 131 + n);
  fmt::format_to(std::back_inserter(out), R"({{"id":{},"customer_id":{},"stage":"{}","value_cents":{}}})",
                 customer * 100 + n, customer, kDealStages[key % kDealStages.size()], 10000 + key % 5000000);
}

}  // namespace

ApiReply Crm::handle(ApiRequest const& request) {
  constexpr std::string_view kRead = "GET, HEAD";
  bool const read = request.method == http::verb::get || request.method == http::verb::head;
  bool const post = request.method == http::verb::post;
  auto const path = request.path;

  if (path == "/api/customers") {
    if (read) return list_customers(request.query);
    return post ? create_customer(request.body_bytes) : method_not_allowed("GET, HEAD, POST");
  }
  if (path == "/api/orders") return post ? submit_order(request.body) : method_not_allowed("POST");
  if (path == "/api/reports/pipeline") return read ? pipeline_report() : method_not_allowed(kRead);
  if (auto const id = id_segment(path, "/api/customers/")) {
    return read ? get_customer(*id) : method_not_allowed(kRead);
  }
  if (auto const id = id_between(path, "/api/customers/", "/deals")) {
    return read ? customer_deals(*id) : method_not_allowed(kRead);
  }
  return error_reply(http::status::not_found, "no such resource");
}

ApiReply Crm::list_customers(std::string_view query) {
  auto const delay = prng_.millis(5, 20);
  std::uint64_t page = 1;
  if (auto const text = query_param(query, "page")) {
    auto const parsed = parse_uint(*text);
    if (!parsed || *parsed == 0) return error_reply(http::status::bad_request, "page must be 1 or more", delay);
    page = *parsed;
  }
  ApiReply reply;
  reply.delay = delay;
  reply.body.append(R"({"customers":[)");
  auto const first = page <= kMaxId / kPageSize ? (page - 1) * kPageSize + 1 : kMaxId + 1;
  for (std::uint64_t id = first; id < first + kPageSize && id <= kMaxId; ++id) {
    if (id != first) reply.body.push_back(',');
    append_customer(reply.body, id);
  }
  fmt::format_to(std::back_inserter(reply.body), R"(],"page":{}}})", page);
  reply.body.push_back('\n');
  return reply;
}

ApiReply Crm::get_customer(std::string_view id_text) {
  auto const delay = prng_.millis(2, 10);
  auto const id = existing_id(id_text);
  if (!id) return error_reply(http::status::not_found, "no such customer", delay);
  ApiReply reply;
  reply.delay = delay;
  append_customer(reply.body, *id);
  reply.body.push_back('\n');
  return reply;
}

ApiReply Crm::create_customer(std::uint64_t body_bytes) {
  auto const delay = prng_.millis(10, 30);
  if (body_bytes == 0) return error_reply(http::status::bad_request, "a customer document is required", delay);
  auto const id = prng_.uniform(1, kMaxId);
  ApiReply reply;
  reply.status = http::status::created;
  reply.delay = delay;
  reply.location = fmt::format("/api/customers/{}", id);
  fmt::format_to(std::back_inserter(reply.body), R"({{"id":{},"status":"created"}})", id);
  reply.body.push_back('\n');
  return reply;
}

ApiReply Crm::customer_deals(std::string_view id_text) {
  auto const delay = prng_.millis(5, 25);
  // Always draw, so one request's outcome never shifts the rest of the sequence.
  bool const fail = prng_.chance(50);
  auto const id = existing_id(id_text);
  if (!id) return error_reply(http::status::not_found, "no such customer", delay);
  if (fail) return error_reply(http::status::internal_server_error, "deal store unavailable", delay);
  ApiReply reply;
  reply.delay = delay;
  reply.body.append(R"({"deals":[)");
  auto const count = 1 + mix(*id) % 5;
  for (std::uint64_t n = 0; n < count; ++n) {
    if (n != 0) reply.body.push_back(',');
    append_deal(reply.body, *id, n);
  }
  reply.body.append("]}\n");
  return reply;
}

ApiReply Crm::submit_order(std::string_view body) {
  auto const delay = prng_.millis(5, 15);
  if (body.empty()) return error_reply(http::status::bad_request, "an order document is required", delay);
  if (events_ == nullptr || !events_->publish("order.created", body)) {
    auto reply = error_reply(http::status::service_unavailable, "order events cannot be published", delay);
    reply.retry_after = true;
    return reply;
  }
  ApiReply reply;
  reply.status = http::status::accepted;
  reply.delay = delay;
  fmt::format_to(std::back_inserter(reply.body), R"({{"status":"accepted","event_bytes":{}}})", body.size());
  reply.body.push_back('\n');
  return reply;
}

ApiReply Crm::pipeline_report() {
  ApiReply reply;
  reply.delay = prng_.millis(200, 900);
  reply.body.append(R"({"pipeline":[)");
  auto const base = prng_.uniform(1, kMaxId - kReportRows);
  for (std::uint64_t row = 0; row < kReportRows; ++row) {
    if (row != 0) reply.body.push_back(',');
    append_deal(reply.body, base + row, row % 3);
  }
  reply.body.append("]}\n");
  return reply;
}

}  // namespace apimeter::demo
