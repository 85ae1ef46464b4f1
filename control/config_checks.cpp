// The field checks behind config_checks.hpp: the spelling rules of names, values, methods and route
// patterns, with a message that quotes the offending text.
#include "control/config_checks.hpp"

#include <algorithm>
#include <iterator>

#include "control/limits.hpp"
#include "control/value_syntax.hpp"
#include "control/route_template.hpp"
#include "proxy/http1/http_head_parser.hpp"

namespace apimeter {
namespace {

// Labels apimeter sets itself on the request metrics, plus the two Prometheus reserves for histograms
// and summaries.
constexpr std::string_view kBuiltInLabels[] = {
    "service", "http_route", "http_request_method", "http_response_status_code", "error_type", "user",
    "le",      "quantile"};

std::string_view match_key(RouteMatch match) {
  switch (match) {
    case RouteMatch::exact:
      return "exact";
    case RouteMatch::path_template:
      return "template";
    case RouteMatch::prefix:
      return "prefix";
  }
  return "prefix";
}

// A name that must be an RFC 9110 token; `what` and `token_kind` word the message.
bool check_token_name(std::string_view what, std::string_view token_kind, std::string_view name, std::string& error) {
  if (name.empty()) {
    error = std::string(what) + " is empty";
    return false;
  }
  if (!is_token(name)) {
    error = std::string(what) + " " + quote(name) + " is not " + std::string(token_kind) +
            " (letters, digits and !#$%&'*+-.^_`|~)";
    return false;
  }
  return true;
}

}  // namespace

bool check_route_name(std::string_view name, std::string& error) {
  if (name.empty()) {
    error = "route name is empty";
    return false;
  }
  const bool ok = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
  if (!ok) {
    error = "route name " + quote(name) + " may only contain A-Z a-z 0-9 _ . -";
    return false;
  }
  return true;
}

bool check_header_name(std::string_view name, std::string& error) {
  return check_token_name("header name", "an HTTP token", name, error);
}

bool check_cookie_name(std::string_view name, std::string& error) {
  return check_token_name("cookie name", "a token", name, error);
}

bool check_query_name(std::string_view name, std::string& error) {
  if (name.empty()) {
    error = "query parameter name is empty";
    return false;
  }
  const bool ok = std::all_of(name.begin(), name.end(), [](char c) {
    return c > ' ' && c < 0x7f && std::string_view("&=#?").find(c) == std::string_view::npos;
  });
  if (!ok) {
    error = "query parameter name " + quote(name) + " may not contain & = # ?, spaces or control characters";
    return false;
  }
  return true;
}

// A Prometheus label name that apimeter does not already set.
bool check_label_name(std::string_view name, std::string& error) {
  if (name.empty()) {
    error = "label name is empty";
    return false;
  }
  const auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  const bool ok = letter(name.front()) && std::all_of(name.begin(), name.end(), [&](char c) {
                    return letter(c) || (c >= '0' && c <= '9');
                  });
  if (!ok) {
    error = "label name " + quote(name) +
            " is not a Prometheus label name: letters, digits and _, not starting with a digit";
    return false;
  }
  if (name.starts_with("__")) {
    error = "label name " + quote(name) + " starts with __, which Prometheus reserves";
    return false;
  }
  if (std::find(std::begin(kBuiltInLabels), std::end(kBuiltInLabels), name) != std::end(kBuiltInLabels)) {
    error = "label name " + quote(name) + " is one apimeter sets itself; choose another";
    return false;
  }
  return true;
}

// One value of an extra label's allow-list: a short, plain label value.
bool check_label_value(std::string_view value, std::string& error) {
  if (value.empty()) {
    error = "an allowed value is empty (a request without the value gets no label)";
    return false;
  }
  if (value == "_other") {
    error = "\"_other\" is what values outside the list are counted as; leave it out";
    return false;
  }
  if (value.size() > defaults::kMetricsMaxExtraLabelValueBytes) {
    error = "allowed value " + quote(value) + " is longer than " +
            std::to_string(defaults::kMetricsMaxExtraLabelValueBytes) + " bytes";
    return false;
  }
  const bool ok = std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           std::string_view("._:/@+-").find(c) != std::string_view::npos;
  });
  if (!ok) {
    error = "allowed value " + quote(value) + " may only contain A-Z a-z 0-9 . _ : / @ + -";
    return false;
  }
  return true;
}

bool check_max_values(std::uint64_t max_values, std::string& error) {
  if (max_values == 0 || max_values > defaults::kMetricsMaxExtraLabelValues) {
    error = "must be 1-" + std::to_string(defaults::kMetricsMaxExtraLabelValues) +
            " (each value is a set of series of its own)";
    return false;
  }
  return true;
}

bool check_method(std::string_view method, std::string& error) {
  if (!is_token(method)) {
    error = "method " + quote(method) + " is not an HTTP token";
    return false;
  }
  if (std::any_of(method.begin(), method.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
    std::string upper(method);
    for (char& c : upper) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    error = "method " + quote(method) + " must be upper case (methods are case-sensitive): " + upper;
    return false;
  }
  return true;
}

bool check_pattern(RouteMatch match, std::string_view pattern, std::string& error) {
  std::string reason;
  bool ok = true;
  switch (match) {
    case RouteMatch::exact:
      ok = check_exact_path(pattern, reason);
      break;
    case RouteMatch::path_template:
      ok = RouteTemplate::parse(pattern, reason).has_value();
      break;
    case RouteMatch::prefix:
      ok = check_prefix(pattern, reason);
      break;
  }
  if (!ok) error = "invalid " + std::string(match_key(match)) + " " + quote(pattern) + ": " + reason;
  return ok;
}

}  // namespace apimeter
