// The demo APIs' shared helpers and the factory that picks a shape.
#include "tests/support/demo_upstream_api.hpp"

#include "tests/support/demo_upstream_crm.hpp"
#include "tests/support/demo_upstream_mes.hpp"
#include "tests/support/demo_upstream_shop.hpp"
#include "tests/support/demo_upstream_text.hpp"

namespace apimeter::demo {

namespace http = boost::beast::http;

std::uint64_t Prng::next() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  return mix(z);
}

std::optional<Shape> parse_shape(std::string_view name) {
  if (name == "shop") return Shape::shop;
  if (name == "crm") return Shape::crm;
  if (name == "mes") return Shape::mes;
  return std::nullopt;
}

std::unique_ptr<Api> make_api(Shape shape, std::uint64_t seed, EventSink* events, OrderIntake const* intake) {
  switch (shape) {
    case Shape::crm:
      return std::make_unique<Crm>(seed, events);
    case Shape::mes:
      return std::make_unique<Mes>(seed, intake);
    case Shape::shop:
      break;
  }
  return std::make_unique<Shop>(seed);
}

std::optional<std::uint64_t> existing_id(std::string_view text) {
  auto const id = parse_uint(text);
  if (!id || *id == 0 || *id > Api::kMaxId) return std::nullopt;
  return id;
}

std::optional<std::string_view> after_prefix(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix)) return std::nullopt;
  return path.substr(prefix.size());
}

std::optional<std::string_view> id_segment(std::string_view path, std::string_view prefix) {
  auto const rest = after_prefix(path, prefix);
  if (!rest || rest->empty() || rest->find('/') != std::string_view::npos) return std::nullopt;
  return rest;
}

std::optional<std::string_view> id_between(std::string_view path, std::string_view prefix,
                                           std::string_view suffix) {
  auto rest = after_prefix(path, prefix);
  if (!rest || !rest->ends_with(suffix)) return std::nullopt;
  rest->remove_suffix(suffix.size());
  if (rest->empty() || rest->find('/') != std::string_view::npos) return std::nullopt;
  return rest;
}

ApiReply error_reply(http::status status, std::string_view message, std::chrono::milliseconds delay) {
  ApiReply reply;
  reply.status = status;
  reply.delay = delay;
  reply.body.append(R"({"error":)");
  append_json_string(reply.body, message);
  reply.body.append("}\n");
  return reply;
}

ApiReply method_not_allowed(std::string_view allow) {
  auto reply = error_reply(http::status::method_not_allowed, "method not allowed");
  reply.allow = allow;
  return reply;
}

}  // namespace apimeter::demo
