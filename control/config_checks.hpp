// Checks of single config fields shared by the YAML loader (as it reads each route and label) and the
// whole-config validation (for values that came from flags or the environment): names, label values,
// methods, route patterns and histogram bounds. Each returns false with a message quoting the text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "control/config.hpp"

namespace apimeter {

bool check_route_name(std::string_view name, std::string& error);
bool check_header_name(std::string_view name, std::string& error);
bool check_cookie_name(std::string_view name, std::string& error);
bool check_query_name(std::string_view name, std::string& error);
// A Prometheus label name that apimeter does not already set.
bool check_label_name(std::string_view name, std::string& error);
// One value of an extra label's allow-list: a short, plain label value.
bool check_label_value(std::string_view value, std::string& error);
bool check_max_values(std::uint64_t max_values, std::string& error);
// An HTTP token in upper case (methods are case-sensitive; a lower-case one is named with its fix).
bool check_method(std::string_view method, std::string& error);
// The pattern of an exact, template or prefix route.
bool check_pattern(RouteMatch match, std::string_view pattern, std::string& error);

// Histogram bounds built in code: the table's parsers already guarantee this for configured ones.
template <typename T>
bool check_bounds(const std::vector<T>& bounds, bool positive, std::string& error) {
  if (bounds.empty()) {
    error = "no buckets";
    return false;
  }
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (positive && !(bounds[i] > 0)) {
      error = "bucket #" + std::to_string(i + 1) + " must be more than 0";
      return false;
    }
    if (i > 0 && !(bounds[i] > bounds[i - 1])) {
      error = "bucket #" + std::to_string(i + 1) +
              " is not greater than the one before it; buckets must be strictly increasing";
      return false;
    }
  }
  return true;
}

}  // namespace apimeter
