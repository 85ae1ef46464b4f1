// /stats parsing over nlohmann::json without exceptions: parse errors come back as a discarded value and
// every field is read through a type check, so a hostile or truncated body is an error message.
#include "top/stats_document.hpp"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace apimeter::top {
namespace {

using Json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A field of an object, or null when the object is not one or lacks it.
const Json& member(const Json& object, const char* name) {
  static const Json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(name);
  return it == object.end() ? kNull : *it;
}

double number(const Json& object, const char* name) {
  const Json& v = member(object, name);
  return v.is_number() ? v.get<double>() : kNaN;
}

std::uint64_t count(const Json& object, const char* name) {
  const Json& v = member(object, name);
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number() && v.get<double>() >= 0 && v.get<double>() < 1.8e19) return static_cast<std::uint64_t>(v.get<double>());
  return 0;
}

std::string text(const Json& object, const char* name) {
  const Json& v = member(object, name);
  return v.is_string() ? v.get<std::string>() : std::string();
}

LiveFigures live(const Json& object) {
  LiveFigures f;
  f.rate = number(object, "rate");
  f.error_ratio = number(object, "error_ratio");
  f.received_rate = number(object, "received_bytes_rate");
  f.sent_rate = number(object, "sent_bytes_rate");
  f.p50 = number(object, "p50_seconds");
  f.p95 = number(object, "p95_seconds");
  f.p99 = number(object, "p99_seconds");
  return f;
}

}  // namespace

bool parse_stats_document(std::string_view body, StatsDocument& out, std::string& error) {
  const Json doc = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    error = "the answer is not JSON";
    return false;
  }
  if (!doc.is_object() || !member(doc, "routes").is_array()) {
    error = "the answer is not a /stats document";
    return false;
  }
  const Json& version = member(doc, "version");
  if (!version.is_number_unsigned() || version.get<std::uint64_t>() != 2) {
    error = version.is_number_unsigned() ? "/stats version " + std::to_string(version.get<std::uint64_t>()) + "; this apimeter top reads version 2"
                                         : std::string("/stats has no version 2; this apimeter top reads version 2");
    return false;
  }
  out = StatsDocument{};
  out.service = text(doc, "service");
  out.uptime_seconds = number(doc, "uptime_seconds");
  out.window_seconds = number(doc, "window_seconds");
  out.requests = count(doc, "requests_total");
  out.errors = count(doc, "errors_5xx_total");
  out.active_requests = count(doc, "active_requests");
  out.connections = count(doc, "client_connections_active");
  out.connection_limit = count(doc, "client_connections_limit");
  out.pool_idle = count(member(doc, "upstream_connections"), "idle");
  out.pool_active = count(member(doc, "upstream_connections"), "active");
  out.series = count(member(doc, "series"), "active");
  out.series_limit = count(member(doc, "series"), "limit");
  out.series_dropped = count(member(doc, "series"), "dropped_total");
  out.all = live(member(doc, "last_minute"));
  for (const Json& r : member(doc, "routes")) {
    if (!r.is_object()) continue;
    out.routes.push_back({text(r, "route"), count(r, "requests_total"), count(r, "errors_5xx_total"), live(r)});
  }
  const Json& top = member(member(doc, "users"), "top");
  if (top.is_array()) {
    for (const Json& u : top) {
      if (!u.is_object() || !member(u, "listed").is_boolean() || !member(u, "listed").get<bool>()) continue;
      out.users.push_back({text(u, "user"), count(u, "requests_total"), number(u, "rate"), count(u, "active_requests")});
    }
  }
  const Json& endpoints = member(doc, "upstream_endpoints");
  if (endpoints.is_array()) {
    for (const Json& e : endpoints)
      if (e.is_object()) out.endpoints.push_back({text(e, "endpoint"), count(e, "attempts_total"), count(e, "connect_errors_total")});
  }
  return true;
}

}  // namespace apimeter::top
