// YAML -> Config through the settings table, and the whole-config checks. Reports every problem it finds
// as a positioned Diagnostic and keeps going; exceptions from yaml-cpp are caught here and never leave.
// Knows the YAML layout; knows nothing of flags or the environment (cli.cpp) or of runtime state.
#include "control/config_loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "control/options.hpp"
#include "control/route_template.hpp"

namespace apimeter {
namespace {

constexpr std::string_view kRouteKeys[] = {
    "name",   "template", "exact", "prefix", "methods", "request_timeout", "upstream_response_timeout",
    "buckets"};
constexpr std::string_view kExtraLabelKeys[] = {"name", "header", "query", "values", "max_values"};
// Keys that are lists of maps, loaded here rather than through the settings table.
constexpr std::string_view kListKeys[] = {"routes", "metrics.extra_labels"};
// Labels apimeter sets itself on the request metrics, plus the two Prometheus reserves for histograms
// and summaries.
constexpr std::string_view kBuiltInLabels[] = {
    "service", "http_route", "http_request_method", "http_response_status_code", "error_type", "user",
    "le",      "quantile"};

std::string quote(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

std::string_view node_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a string";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Undefined:
      return "nothing";
  }
  return "something else";
}

std::string_view section_of(std::string_view yaml_path) {
  const std::size_t dot = yaml_path.find('.');
  return dot == std::string_view::npos ? std::string_view{} : yaml_path.substr(0, dot);
}

std::string_view leaf_of(std::string_view yaml_path) {
  const std::size_t dot = yaml_path.find('.');
  return dot == std::string_view::npos ? yaml_path : yaml_path.substr(dot + 1);
}

// Keys allowed directly under `section` ("" = the top level), in table order.
std::vector<std::string_view> keys_in(std::string_view section) {
  std::vector<std::string_view> keys;
  auto add = [&](std::string_view key) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  };
  for (const OptionRow& option : option_table()) {
    if (option.yaml_path.empty()) continue;
    const std::string_view owner = section_of(option.yaml_path);
    if (section.empty()) {
      add(owner.empty() ? option.yaml_path : owner);
    } else if (owner == section) {
      add(leaf_of(option.yaml_path));
    }
  }
  for (std::string_view list : kListKeys) {
    if (section_of(list) == section) add(leaf_of(list));
  }
  return keys;
}

bool is_section(std::string_view key) {
  return std::any_of(option_table().begin(), option_table().end(),
                     [&](const OptionRow& option) { return section_of(option.yaml_path) == key; });
}

// "; did you mean X?" for a misspelt key, or for a key that exists elsewhere ("client_header" at the top
// level, or a flag name like "max-uri-bytes" used as a key).
std::string suggestion_for(std::string_view key, std::string_view section,
                           std::span<const std::string_view> siblings) {
  const std::string_view near = closest_match(key, siblings);
  if (!near.empty()) return "; did you mean " + quote(near) + "?";
  for (std::string_view list : kListKeys) {
    if (section_of(list) != section && leaf_of(list) == key) return "; did you mean " + quote(list) + "?";
  }
  for (const OptionRow& option : option_table()) {
    if (option.yaml_path.empty() || section_of(option.yaml_path) == section) continue;
    if (leaf_of(option.yaml_path) == key || option.flag == key)
      return "; did you mean " + quote(option.yaml_path) + "?";
  }
  for (const OptionRow& option : option_table()) {
    const std::string_view leaf = leaf_of(option.yaml_path);
    if (option.yaml_path.empty() || section_of(option.yaml_path) == section) continue;
    if (!closest_match(key, std::span(&leaf, 1)).empty())
      return "; did you mean " + quote(option.yaml_path) + "?";
  }
  return "";
}

// The same for a key inside one item of a list of maps (a route, an extra label). Those keys are not
// settings, so pointing at one elsewhere would mislead: list what `noun` may have instead.
std::string item_key_suggestion(std::string_view key, std::string_view noun,
                                std::span<const std::string_view> keys) {
  const std::string_view near = closest_match(key, keys);
  if (!near.empty()) return "; did you mean " + quote(near) + "?";
  std::string known;
  for (std::string_view each : keys) known += (known.empty() ? "" : ", ") + std::string(each);
  return "; " + std::string(noun) + " has " + known;
}

bool is_token_char(char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

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

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_token_char);
}

bool check_header_name(std::string_view name, std::string& error) {
  if (name.empty()) {
    error = "header name is empty";
    return false;
  }
  if (!is_token(name)) {
    error = "header name " + quote(name) + " is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)";
    return false;
  }
  return true;
}

bool check_cookie_name(std::string_view name, std::string& error) {
  if (name.empty()) {
    error = "cookie name is empty";
    return false;
  }
  if (!is_token(name)) {
    error = "cookie name " + quote(name) + " is not a token (letters, digits and !#$%&'*+-.^_`|~)";
    return false;
  }
  return true;
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

bool check_method(std::string_view method, std::string& error) {
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char)) {
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

SourceLocation location(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return SourceLocation{file, 0, 0};
  return SourceLocation{file, mark.line + 1, mark.column + 1};
}

class YamlLoader {
 public:
  YamlLoader(const std::string& file, LoadResult& result) : file_(file), result_(result) {}

  void load_root(const YAML::Node& root) {
    if (root.IsNull()) return;  // an empty file is all defaults
    if (!root.IsMap()) {
      report(root, "the top level must be a map of settings, like \"listen: 0.0.0.0:8080\"; got " +
                       std::string(node_kind(root)));
      result_.parsed = false;  // nothing in it was understood, so nothing else is worth checking
      return;
    }
    const std::vector<std::string_view> top = keys_in("");
    for_each_entry(root, [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& value) {
      if (key == "routes") {
        load_routes(value);
      } else if (is_section(key)) {
        load_section(key, key_node, value);
      } else if (const OptionRow* option = find_option_by_yaml(key)) {
        load_setting(*option, value);
      } else {
        report(key_node, "unknown key " + quote(key) + suggestion_for(key, "", top));
      }
    });
  }

 private:
  void report(const YAML::Node& at, std::string message) {
    result_.problems.push_back(Diagnostic{location(file_, at.Mark()), std::move(message)});
  }

  // Calls `visit` for each entry of `map` in document order, reporting duplicate and non-scalar keys.
  template <typename Visit>
  void for_each_entry(const YAML::Node& map, Visit visit) {
    std::vector<std::pair<std::string, YAML::Mark>> seen;
    for (const auto& entry : map) {
      const YAML::Node& key_node = entry.first;
      if (!key_node.IsScalar()) {
        report(key_node, "keys must be plain names, got " + std::string(node_kind(key_node)));
        continue;
      }
      const std::string& key = key_node.Scalar();
      const auto first =
          std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == key; });
      if (first != seen.end()) {
        report(key_node, "duplicate key " + quote(key) + " (first at line " +
                             std::to_string(first->second.line + 1) + ")");
        continue;
      }
      seen.emplace_back(key, key_node.Mark());
      visit(key, key_node, entry.second);
    }
  }

  void load_section(const std::string& section, const YAML::Node& key_node, const YAML::Node& value) {
    const std::vector<std::string_view> keys = keys_in(section);
    if (value.IsNull()) return;  // "timeouts:" with nothing under it changes nothing
    if (!value.IsMap()) {
      std::string list;
      for (std::string_view key : keys) list += (list.empty() ? "" : ", ") + std::string(key);
      report(value, section + " must be a map of " + list + "; got " + std::string(node_kind(value)));
      return;
    }
    for_each_entry(value, [&](const std::string& key, const YAML::Node& child_key, const YAML::Node& child) {
      if (section + "." + key == "metrics.extra_labels") {
        load_extra_labels(child);
      } else if (const OptionRow* option = find_option_by_yaml(section + "." + key)) {
        load_setting(*option, child);
      } else {
        report(child_key,
               "unknown key " + quote(key) + " in " + section + suggestion_for(key, section, keys));
      }
    });
  }

  void load_setting(const OptionRow& option, const YAML::Node& value) {
    const std::string flag(option.flag);
    result_.origins.by_flag[flag] = location(file_, value.Mark());
    std::string error;
    if (option.is_list() && value.IsSequence()) {
      if (load_list(option, value)) return;
    } else if (option.kind == ValueKind::key_value_list && value.IsMap()) {
      if (load_key_values(option, value)) return;
    } else if (!value.IsScalar()) {
      report(value, std::string(option.yaml_path) + " must be " +
                        std::string(value_description(option.kind)) + "; got " +
                        std::string(node_kind(value)));
    } else if (option.assign(result_.config, value.Scalar(), error)) {
      result_.origins.rejected.erase(flag);
      return;
    } else {
      report(value,
             std::string(option.yaml_path) + ": invalid value " + quote(value.Scalar()) + ": " + error);
    }
    result_.origins.rejected.insert(flag);
  }

  // A YAML map for a key=value setting ("tracing.headers: {authorization: Bearer x}"): joined into the
  // one-line spelling, with the characters that spelling reserves percent-encoded.
  bool load_key_values(const OptionRow& option, const YAML::Node& map) {
    std::string joined;
    bool ok = true;
    for (const auto& entry : map) {
      if (!entry.first.IsScalar() || !entry.second.IsScalar()) {
        report(entry.first, std::string(option.yaml_path) + ": keys and values must be plain text");
        ok = false;
        continue;
      }
      if (!joined.empty()) joined += ',';
      joined += entry.first.Scalar();
      joined += '=';
      for (char c : entry.second.Scalar()) {
        if (c == '%' || c == ',') {
          constexpr char kHex[] = "0123456789ABCDEF";
          joined += '%';
          joined += kHex[static_cast<unsigned char>(c) >> 4];
          joined += kHex[static_cast<unsigned char>(c) & 0xf];
        } else {
          joined += c;
        }
      }
    }
    std::string error;
    if (ok && option.assign(result_.config, joined, error)) {
      result_.origins.rejected.erase(std::string(option.flag));
      return true;
    }
    if (ok) report(map, std::string(option.yaml_path) + ": " + error);
    return false;
  }

  // A YAML list for a list setting: each item is checked on its own so a bad one is pointed at exactly.
  bool load_list(const OptionRow& option, const YAML::Node& list) {
    const std::string what(option.yaml_path);
    const std::optional<std::string> joined =
        load_scalar_list(list, what, item_description(option.kind),
                         "empty list; expected " + std::string(value_description(option.kind)),
                         [&](std::string_view text, std::string& error) {
                           Config scratch;
                           return option.assign(scratch, text, error);
                         });
    std::string error;
    return joined && option.assign(result_.config, *joined, error);
  }

  // The items of a YAML list of scalars, comma-joined for a parser of comma-separated text (`parse`).
  // Each item is parsed alone, then with the good ones before it, so both a bad item and the item that
  // breaks the order are pointed at exactly. nullopt (after reporting) when any item is bad.
  template <typename Parse>
  std::optional<std::string> load_scalar_list(const YAML::Node& list, const std::string& what,
                                              std::string_view item_kind, const std::string& when_empty,
                                              Parse parse) {
    if (list.size() == 0) {
      report(list, what + ": " + when_empty);
      return std::nullopt;
    }
    bool ok = true;
    std::string joined;
    for (const YAML::Node& item : list) {
      std::string error;
      if (!item.IsScalar()) {
        report(item, what + ": each item must be " + std::string(item_kind) + "; got " +
                         std::string(node_kind(item)));
        ok = false;
        continue;
      }
      if (!parse(item.Scalar(), error)) {
        report(item, what + ": invalid value " + quote(item.Scalar()) + ": " + error);
        ok = false;
        continue;
      }
      std::string longer = joined.empty() ? item.Scalar() : joined + "," + item.Scalar();
      if (!parse(longer, error)) {
        report(item, what + ": " + error);
        ok = false;
        continue;
      }
      joined = std::move(longer);
    }
    return ok ? std::optional<std::string>(std::move(joined)) : std::nullopt;
  }

  void load_routes(const YAML::Node& value) {
    if (value.IsNull()) return;
    if (!value.IsSequence()) {
      report(value,
             "routes must be a list of routes, each \"- name: ...\"; got " + std::string(node_kind(value)));
      result_.origins.rejected.insert("routes");
      return;
    }
    std::size_t position = 0;
    for (const YAML::Node& item : value) {
      ++position;
      if (std::optional<RouteConfig> route = load_route(item, position)) {
        result_.config.routes.push_back(std::move(*route));
      } else {
        result_.origins.rejected.insert("routes");
      }
    }
  }

  // One route's own fields, each checked where it is written. nullopt (after reporting) when any is bad:
  // a half-understood route must not take part in matching or in the shadowing checks.
  std::optional<RouteConfig> load_route(const YAML::Node& item, std::size_t position) {
    if (!item.IsMap()) {
      report(item, "route #" + std::to_string(position) +
                       " must be a map with name and one of template, exact or prefix; got " +
                       std::string(node_kind(item)));
      return std::nullopt;
    }
    RouteConfig route;
    route.where = location(file_, item.Mark());
    bool ok = true;
    bool named = false;
    std::vector<std::pair<std::string, YAML::Node>> patterns;
    // Fields are read in document order but the name is needed in every message; read it first.
    if (const YAML::Node name = item["name"]; name && name.IsScalar()) route.name = name.Scalar();
    const std::string who =
        route.name.empty() ? "route #" + std::to_string(position) : "route " + quote(route.name);

    auto scalar = [&](const std::string& key, const YAML::Node& node) -> std::optional<std::string> {
      if (node.IsScalar()) return node.Scalar();
      report(node, who + ": " + key + " must be a string; got " + std::string(node_kind(node)));
      ok = false;
      return std::nullopt;
    };
    auto duration = [&](const std::string& key, const YAML::Node& node) -> std::optional<Duration> {
      const std::optional<std::string> text = scalar(key, node);
      if (!text) return std::nullopt;
      Duration parsed{};
      std::string error;
      if (parse_duration(*text, parsed, error)) return parsed;
      report(node, who + ": " + key + ": invalid value " + quote(*text) + ": " + error);
      ok = false;
      return std::nullopt;
    };

    for_each_entry(item, [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& value) {
      std::string error;
      if (key == "name") {
        named = true;
        if (const auto text = scalar(key, value); text && !check_route_name(*text, error)) {
          report(value, error);
          ok = false;
        }
      } else if (key == "template" || key == "exact" || key == "prefix") {
        patterns.emplace_back(key, value);
        if (patterns.size() > 1) {
          report(key_node, who + " has both " + patterns.front().first + " and " + key + "; use exactly one");
          ok = false;
        }
      } else if (key == "methods") {
        load_methods(who, value, route.methods, ok);
      } else if (key == "request_timeout") {
        route.request_timeout = duration(key, value);
      } else if (key == "upstream_response_timeout") {
        route.upstream_response_timeout = duration(key, value);
      } else if (key == "buckets") {
        if (!load_route_buckets(who, value, route.duration_buckets)) ok = false;
      } else {
        report(key_node,
               who + ": unknown key " + quote(key) + item_key_suggestion(key, "a route", kRouteKeys));
        ok = false;
      }
    });

    if (!named) {
      report(item, who + " has no name; add name: with letters, digits, _ . or -");
      ok = false;
    }
    if (patterns.empty()) {
      report(item, who + " needs one of template, exact or prefix");
      ok = false;
    } else if (patterns.size() == 1) {
      const auto& [key, node] = patterns.front();
      route.match = key == "template" ? RouteMatch::path_template
                    : key == "exact"  ? RouteMatch::exact
                                      : RouteMatch::prefix;
      if (const auto text = scalar(key, node)) {
        route.pattern = *text;
        std::string error;
        if (!check_pattern(route.match, route.pattern, error)) {
          report(node, who + ": " + error);
          ok = false;
        }
      }
    }
    return ok ? std::optional<RouteConfig>(std::move(route)) : std::nullopt;
  }

  // A route's own duration buckets; false (after reporting) when any is bad.
  bool load_route_buckets(const std::string& who, const YAML::Node& value, std::vector<double>& buckets) {
    if (!value.IsSequence()) {
      report(value, who + ": buckets must be a list like [100ms, 1s] or [0.1, 1]; got " +
                        std::string(node_kind(value)));
      return false;
    }
    const auto parse = [](std::string_view text, std::string& error) {
      std::vector<double> ignored;
      return parse_duration_buckets(text, ignored, error);
    };
    const std::optional<std::string> joined =
        load_scalar_list(value, who + ": buckets", item_description(ValueKind::duration_buckets),
                         "empty list; omit buckets to use metrics.duration_buckets", parse);
    std::string error;
    return joined && parse_duration_buckets(*joined, buckets, error);
  }

  void load_extra_labels(const YAML::Node& value) {
    if (value.IsNull()) return;
    if (!value.IsSequence()) {
      report(value, "metrics.extra_labels must be a list of labels, each \"- name: ...\"; got " +
                        std::string(node_kind(value)));
      return;
    }
    std::size_t position = 0;
    for (const YAML::Node& item : value) {
      ++position;
      if (std::optional<ExtraLabelConfig> label = load_extra_label(item, position)) {
        result_.config.metrics.extra_labels.push_back(std::move(*label));
      }
    }
  }

  // One extra label's own fields, each checked where it is written; nullopt (after reporting) when any is
  // bad. Checks across labels (duplicate names, how many) are validate_config's.
  std::optional<ExtraLabelConfig> load_extra_label(const YAML::Node& item, std::size_t position) {
    if (!item.IsMap()) {
      report(item, "extra label #" + std::to_string(position) +
                       " must be a map with name, header or query, and values or max_values; got " +
                       std::string(node_kind(item)));
      return std::nullopt;
    }
    ExtraLabelConfig label;
    label.where = location(file_, item.Mark());
    bool ok = true;
    bool named = false;
    std::vector<std::string> sources;     // header, query: exactly one
    std::vector<std::string> bound_keys;  // values, max_values: exactly one
    if (const YAML::Node name = item["name"]; name && name.IsScalar()) label.name = name.Scalar();
    const std::string who =
        label.name.empty() ? "extra label #" + std::to_string(position) : "extra label " + quote(label.name);
    auto fail = [&](const YAML::Node& at, const std::string& message) {
      report(at, who + ": " + message);
      ok = false;
    };
    auto scalar = [&](const std::string& key, const YAML::Node& node) -> std::optional<std::string> {
      if (node.IsScalar()) return node.Scalar();
      fail(node, key + " must be a string; got " + std::string(node_kind(node)));
      return std::nullopt;
    };
    // Records `key` as one of two alternatives; false (reported) when the other was given already.
    auto one_of = [&](std::vector<std::string>& seen, const std::string& key, const YAML::Node& key_node,
                      const char* choice) {
      seen.push_back(key);
      if (seen.size() > 1) fail(key_node, "has both " + seen.front() + " and " + key + "; " + choice);
      return seen.size() == 1;
    };

    for_each_entry(item, [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& value) {
      std::string error;
      if (key == "name") {
        named = true;
        if (const auto text = scalar(key, value); text && !check_label_name(*text, error)) fail(value, error);
      } else if (key == "header" || key == "query") {
        if (!one_of(sources, key, key_node, "use exactly one")) return;
        const auto text = scalar(key, value);
        if (!text) return;
        label.source = key == "header" ? ExtraLabelSource::header : ExtraLabelSource::query;
        label.key = *text;
        const bool valid = label.source == ExtraLabelSource::header ? check_header_name(*text, error)
                                                                    : check_query_name(*text, error);
        if (!valid) fail(value, error);
      } else if (key == "values") {
        if (!one_of(bound_keys, key, key_node, "use an allow-list or a cap, not both")) return;
        load_label_values(value, label.values, fail);
      } else if (key == "max_values") {
        if (!one_of(bound_keys, key, key_node, "use an allow-list or a cap, not both")) return;
        const auto text = scalar(key, value);
        if (!text) return;
        std::uint64_t count = 0;
        if (!parse_count(*text, count, error) || !check_max_values(count, error)) {
          fail(value, "max_values: invalid value " + quote(*text) + ": " + error);
          return;
        }
        label.max_values = static_cast<std::size_t>(count);
      } else {
        fail(key_node,
             "unknown key " + quote(key) + item_key_suggestion(key, "an extra label", kExtraLabelKeys));
      }
    });

    if (!named) fail(item, "has no name; add name: with the Prometheus label name");
    if (sources.empty()) fail(item, "needs header: NAME or query: PARAM, where the value is read from");
    if (bound_keys.empty()) {
      fail(item, "needs values: [allowed, ...] or max_values: N (at most " +
                     std::to_string(defaults::kMetricsMaxExtraLabelValues) + "), so its values are bounded");
    }
    return ok ? std::optional<ExtraLabelConfig>(std::move(label)) : std::nullopt;
  }

  template <typename Fail>
  void load_label_values(const YAML::Node& value, std::vector<std::string>& values, Fail& fail) {
    if (!value.IsSequence() || value.size() == 0) {
      fail(value, "values must be a list of allowed values like [search, browse]; got " +
                      (value.IsSequence() ? std::string("an empty list") : std::string(node_kind(value))));
      return;
    }
    for (const YAML::Node& item : value) {
      std::string error;
      if (!item.IsScalar()) {
        fail(item, "each allowed value must be a string; got " + std::string(node_kind(item)));
      } else if (!check_label_value(item.Scalar(), error)) {
        fail(item, error);
      } else if (std::find(values.begin(), values.end(), item.Scalar()) != values.end()) {
        fail(item, "value " + quote(item.Scalar()) + " is listed twice");
      } else {
        values.push_back(item.Scalar());
      }
    }
    if (values.size() > defaults::kMetricsMaxExtraLabelValues) {
      fail(value, "values lists " + std::to_string(values.size()) + " values; at most " +
                      std::to_string(defaults::kMetricsMaxExtraLabelValues) +
                      " (each value is a set of series of its own)");
    }
  }

  void load_methods(const std::string& who, const YAML::Node& value, std::vector<std::string>& methods,
                    bool& ok) {
    std::vector<YAML::Node> items;
    if (value.IsScalar()) {
      items.push_back(value);
    } else if (value.IsSequence() && value.size() > 0) {
      for (const YAML::Node& item : value) items.push_back(item);
    } else {
      report(value, who + ": methods must be a list like [GET, PUT]; got " +
                        (value.IsSequence() ? std::string("an empty list (omit methods for all)")
                                            : std::string(node_kind(value))));
      ok = false;
      return;
    }
    for (const YAML::Node& item : items) {
      std::string error;
      if (!item.IsScalar()) {
        report(item, who + ": each method must be a string; got " + std::string(node_kind(item)));
        ok = false;
      } else if (!check_method(item.Scalar(), error)) {
        report(item, who + ": " + error);
        ok = false;
      } else if (std::find(methods.begin(), methods.end(), item.Scalar()) != methods.end()) {
        report(item, who + ": method " + item.Scalar() + " is listed twice");
        ok = false;
      } else {
        methods.push_back(item.Scalar());
      }
    }
  }

  const std::string& file_;
  LoadResult& result_;
};

// What every path a route matches is guaranteed to start with.
std::string_view guaranteed_prefix(const RouteConfig& route, const std::optional<RouteTemplate>& parsed) {
  if (route.match != RouteMatch::path_template) return route.pattern;
  std::string_view prefix = parsed->literal_prefix();
  // "/a/" (no variable) also matches "/a": its trailing slash is optional, so it guarantees only "/a".
  if (prefix.size() == route.pattern.size() && parsed->trailing_slash()) prefix.remove_suffix(1);
  return prefix;
}

bool methods_cover(const std::vector<std::string>& earlier, const std::vector<std::string>& later) {
  if (earlier.empty()) return true;
  if (later.empty()) return false;
  return std::all_of(later.begin(), later.end(), [&](const std::string& method) {
    return std::find(earlier.begin(), earlier.end(), method) != earlier.end();
  });
}

// Whether route `earlier` matches every (method, path) that `later` matches. Conservative: false when
// unsure, so the diagnostic is never wrong, only sometimes missing.
bool shadows(const RouteConfig& earlier, const std::optional<RouteTemplate>& earlier_template,
             const RouteConfig& later, const std::optional<RouteTemplate>& later_template) {
  if (!methods_cover(earlier.methods, later.methods)) return false;
  switch (earlier.match) {
    case RouteMatch::prefix:
      return guaranteed_prefix(later, later_template).starts_with(earlier.pattern);
    case RouteMatch::exact:
      return later.match == RouteMatch::exact && later.pattern == earlier.pattern;
    case RouteMatch::path_template:
      if (later.match == RouteMatch::exact) return earlier_template->matches(later.pattern);
      if (later.match == RouteMatch::path_template) return earlier_template->covers(*later_template);
      return false;
  }
  return false;
}

bool is_wildcard(std::string_view host) {
  return host == "0.0.0.0" || host == "::" || host.empty();
}
bool is_loopback(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}
bool is_ipv4(std::string_view host) {
  return !host.empty() &&
         std::all_of(host.begin(), host.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// Whether binding both addresses would collide: same port, and one host's addresses include the other's.
bool binds_overlap(const HostPort& a, const HostPort& b) {
  if (a.port == 0 || a.port != b.port) return false;
  if (a.host == b.host || a.host == "::" || b.host == "::") return true;  // "::" is dual-stack on Linux
  if (a.host == "0.0.0.0") return is_ipv4(b.host) || b.host == "localhost";
  if (b.host == "0.0.0.0") return is_ipv4(a.host) || a.host == "localhost";
  return false;
}

// Whether connecting to `upstream` would reach our own `listen` socket.
bool reaches(const HostPort& upstream, const HostPort& listen) {
  if (listen.port == 0 || upstream.port != listen.port) return false;
  if (upstream.host == listen.host) return true;
  return is_wildcard(listen.host) && (is_loopback(upstream.host) || is_wildcard(upstream.host));
}

std::string setting_name(std::string_view flag) {
  const OptionRow* option = find_option_by_flag(flag);
  return option && !option->yaml_path.empty() ? std::string(option->yaml_path) : std::string(flag);
}

// One extra label's own fields, for labels built in code (the loader checks and drops bad ones itself).
std::vector<std::string> extra_label_problems(const ExtraLabelConfig& label) {
  std::vector<std::string> out;
  std::string error;
  if (!check_label_name(label.name, error)) out.push_back(error);
  const bool key_ok = label.source == ExtraLabelSource::header ? check_header_name(label.key, error)
                                                               : check_query_name(label.key, error);
  if (!key_ok) out.push_back(error);
  if (label.values.empty() == (label.max_values == 0)) {
    out.push_back("needs exactly one of values (an allow-list) and max_values (a first-come cap)");
  } else if (label.values.empty() && !check_max_values(label.max_values, error)) {
    out.push_back("max_values " + error);
  } else if (label.values.size() > defaults::kMetricsMaxExtraLabelValues) {
    out.push_back("values lists " + std::to_string(label.values.size()) + " values; at most " +
                  std::to_string(defaults::kMetricsMaxExtraLabelValues));
  }
  for (std::size_t i = 0; i < label.values.size(); ++i) {
    if (!check_label_value(label.values[i], error)) out.push_back(error);
    if (std::find(label.values.begin(), label.values.begin() + i, label.values[i]) !=
        label.values.begin() + i)
      out.push_back("value " + quote(label.values[i]) + " is listed twice");
  }
  return out;
}

void check_metrics(const Config& config, const SettingOrigins& origins, std::vector<Diagnostic>& problems) {
  const MetricsConfig& metrics = config.metrics;
  auto report = [&](std::string_view flag, std::string message) {
    problems.push_back(Diagnostic{origins.find(flag), std::move(message)});
  };
  std::string error;
  if (!check_bounds(metrics.duration_buckets, /*positive=*/true, error))
    report("metrics-duration-buckets", "metrics.duration_buckets: " + error);
  if (!check_bounds(metrics.size_buckets, /*positive=*/false, error))
    report("metrics-size-buckets", "metrics.size_buckets: " + error);
  if (metrics.max_series == 0 && !origins.rejected.contains("metrics-max-series")) {
    report("metrics-max-series",
           "metrics.max_series is 0: no request series could be exported; to record nothing, set "
           "metrics.enabled: false");
  }

  const std::vector<ExtraLabelConfig>& labels = metrics.extra_labels;
  auto line_note = [](const ExtraLabelConfig& label) {
    return label.where.line > 0 ? " (line " + std::to_string(label.where.line) + ")" : std::string();
  };
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const ExtraLabelConfig& label = labels[i];
    const std::string who =
        label.name.empty() ? "extra label #" + std::to_string(i + 1) : "extra label " + quote(label.name);
    for (std::string& message : extra_label_problems(label))
      problems.push_back(Diagnostic{label.where, who + ": " + message});
    for (std::size_t earlier = 0; earlier < i; ++earlier) {
      if (!label.name.empty() && labels[earlier].name == label.name) {
        problems.push_back(Diagnostic{label.where, "duplicate extra label name " + quote(label.name) +
                                                       ", first used" + line_note(labels[earlier])});
        break;
      }
    }
  }
  if (labels.size() > defaults::kMetricsMaxExtraLabels) {
    problems.push_back(Diagnostic{labels[defaults::kMetricsMaxExtraLabels].where,
                                  "metrics.extra_labels: " + std::to_string(labels.size()) +
                                      " extra labels; at most " +
                                      std::to_string(defaults::kMetricsMaxExtraLabels) +
                                      ", as each one multiplies the number of series"});
  }
}

void check_user_identity(const UserIdentityConfig& identity, const SettingOrigins& origins,
                         std::vector<Diagnostic>& problems) {
  // An invalid source was reported where it was given and left at none; checking the name against none
  // would only repeat that mistake.
  if (origins.rejected.contains("user-identity-source")) return;
  auto report = [&](std::string_view flag, std::string message) {
    problems.push_back(Diagnostic{origins.find(flag), std::move(message)});
  };
  std::string error;
  switch (identity.source) {
    case IdentitySource::none:
      if (!identity.name.empty()) {
        report("user-identity-name", "user_identity.name is " + quote(identity.name) +
                                         " but user_identity.source is none, so no user is identified; set "
                                         "the source too");
      }
      break;
    case IdentitySource::client_address:
      if (!identity.name.empty()) {
        report("user-identity-name",
               "user_identity.name means nothing for source client_address; leave it empty");
      }
      break;
    case IdentitySource::header:
    case IdentitySource::api_key:
      if (!identity.name.empty() && !check_header_name(identity.name, error))
        report("user-identity-name", "user_identity.name: " + error);
      break;
    case IdentitySource::cookie:
      if (identity.name.empty()) {
        report("user-identity-source",
               "user_identity.source is cookie but user_identity.name is empty: name the cookie that "
               "holds the user id");
      } else if (!check_cookie_name(identity.name, error)) {
        report("user-identity-name", "user_identity.name: " + error);
      }
      break;
    case IdentitySource::jwt_claim:
      break;  // any claim name; empty means sub
  }
}

LoadResult parse_document(std::string_view yaml, const std::string& file_name) {
  LoadResult result;
  result.origins.file = file_name;
  try {
    const std::vector<YAML::Node> documents = YAML::LoadAll(std::string(yaml));
    if (documents.size() > 1) {
      result.problems.push_back(Diagnostic{location(file_name, documents[1].Mark()),
                                           "only one YAML document is allowed (remove the second ---)"});
    }
    YamlLoader loader(file_name, result);
    if (!documents.empty()) loader.load_root(documents.front());
  } catch (const YAML::Exception& error) {
    result.problems.push_back(Diagnostic{location(file_name, error.mark), "YAML syntax error: " + error.msg});
    result.parsed = false;
  } catch (const std::exception& error) {
    result.problems.push_back(
        Diagnostic{SourceLocation{file_name, 0, 0}, std::string("cannot load: ") + error.what()});
    result.parsed = false;
  }
  return result;
}

}  // namespace

SourceLocation SettingOrigins::find(std::string_view flag) const {
  const auto found = by_flag.find(flag);
  if (found != by_flag.end()) return found->second;
  return SourceLocation{file, 0, 0};
}

LoadResult load_config_text(std::string_view yaml, const std::string& file_name) {
  return parse_document(yaml, file_name);
}

LoadResult load_config_file(const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    LoadResult result;
    result.parsed = false;
    result.origins.file = path;
    result.problems.push_back(Diagnostic{SourceLocation{path, 0, 0}, "cannot read: is a directory"});
    return result;
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    const int saved_errno = errno;
    LoadResult result;
    result.parsed = false;
    result.origins.file = path;
    result.problems.push_back(
        Diagnostic{SourceLocation{path, 0, 0}, std::string("cannot read: ") + std::strerror(saved_errno)});
    return result;
  }
  LoadResult result = parse_document(text.str(), path);
  result.config.config_path = path;
  return result;
}

std::vector<Diagnostic> validate_config(const Config& config, const SettingOrigins& origins) {
  std::vector<Diagnostic> problems;
  auto report = [&](std::string_view flag, std::string message) {
    problems.push_back(Diagnostic{origins.find(flag), std::move(message)});
  };
  const Limits& limits = config.limits;

  if (config.upstreams.empty() && !origins.rejected.contains("upstream")) {
    report("upstream", "no upstream: set upstreams in the config file, --upstream or APIMETER_UPSTREAM");
  }
  if (config.service.empty() && !origins.rejected.contains("service")) {
    report("service", "service must not be empty: it names the API in every metric");
  }

  const TracingConfig& tracing = config.tracing;
  if (tracing.max_batch_spans == 0) report("tracing-max-batch-spans", "tracing.max_batch_spans is 0: nothing could be sent; use at least 1");
  if (tracing.max_queue_spans < tracing.max_batch_spans)
    report("tracing-max-queue-spans", "tracing.max_queue_spans (" + std::to_string(tracing.max_queue_spans) +
                                          ") is smaller than tracing.max_batch_spans (" +
                                          std::to_string(tracing.max_batch_spans) + ")");
  if (tracing.export_timeout.count() == 0)
    report("tracing-export-timeout", "tracing.export_timeout is 0: every export would time out");
  if (tracing.retry_max_backoff < tracing.retry_initial_backoff)
    report("tracing-retry-max-backoff", "tracing.retry_max_backoff is shorter than tracing.retry_initial_backoff");

  struct NonZero {
    std::string_view flag;
    std::uint64_t value;
  };
  for (const NonZero& limit : {NonZero{"max-request-header-bytes", limits.max_request_header_bytes},
                               NonZero{"max-request-headers", limits.max_request_headers},
                               NonZero{"max-uri-bytes", limits.max_uri_bytes},
                               NonZero{"max-response-header-bytes", limits.max_response_header_bytes},
                               NonZero{"max-response-headers", limits.max_response_headers}}) {
    if (limit.value == 0)
      report(limit.flag, setting_name(limit.flag) + " is 0: no message could be read; use at least 1");
  }
  if (limits.max_uri_bytes > limits.max_request_header_bytes && limits.max_request_header_bytes > 0) {
    const bool uri_set = origins.by_flag.contains("max-uri-bytes");
    report(uri_set ? "max-uri-bytes" : "max-request-header-bytes",
           "limits contradict: max_uri_bytes (" + format_size(limits.max_uri_bytes) +
               ") is larger than max_request_header_bytes (" + format_size(limits.max_request_header_bytes) +
               "), which includes the request line");
  }

  if (binds_overlap(config.listen, config.admin)) {
    report(origins.by_flag.contains("admin") ? "admin" : "listen",
           "listen and admin both bind " + config.admin.to_string() + "; give them different ports");
  }
  for (const HostPort& upstream : config.upstreams) {
    if (reaches(upstream, config.listen)) {
      report("upstream", "upstream " + upstream.to_string() + " is this proxy's own listen address " +
                             config.listen.to_string() + ": every request would loop");
    }
  }

  if (config.unmatched_routes == UnmatchedRoutes::reject && config.routes.empty() &&
      !origins.rejected.contains("routes")) {
    report("unmatched-routes",
           "unmatched_routes is reject but there are no routes: every request would get 404");
  }

  check_metrics(config, origins, problems);
  check_user_identity(config.user_identity, origins, problems);

  // Each route on its own, then names and shadowing among the well-formed ones.
  std::vector<std::optional<RouteTemplate>> templates(config.routes.size());
  std::vector<bool> well_formed(config.routes.size(), false);
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const RouteConfig& route = config.routes[i];
    const std::string who =
        route.name.empty() ? "route #" + std::to_string(i + 1) : "route " + quote(route.name);
    std::string error;
    bool ok = true;
    auto fail = [&](std::string message) {
      problems.push_back(Diagnostic{route.where, std::move(message)});
      ok = false;
    };
    if (!check_route_name(route.name, error)) fail(who + ": " + error);
    if (!check_pattern(route.match, route.pattern, error)) fail(who + ": " + error);
    for (std::size_t m = 0; m < route.methods.size(); ++m) {
      if (!check_method(route.methods[m], error)) fail(who + ": " + error);
      if (std::find(route.methods.begin(), route.methods.begin() + m, route.methods[m]) !=
          route.methods.begin() + m) {
        fail(who + ": method " + route.methods[m] + " is listed twice");
      }
    }
    if (!route.duration_buckets.empty() && !check_bounds(route.duration_buckets, /*positive=*/true, error))
      fail(who + ": buckets: " + error);
    if (route.match == RouteMatch::path_template) templates[i] = RouteTemplate::parse(route.pattern, error);
    well_formed[i] = ok;
  }

  auto line_note = [](const RouteConfig& route) {
    return route.where.line > 0 ? " (line " + std::to_string(route.where.line) + ")" : std::string();
  };
  for (std::size_t later = 0; later < config.routes.size(); ++later) {
    const RouteConfig& route = config.routes[later];
    for (std::size_t earlier = 0; earlier < later; ++earlier) {
      if (!route.name.empty() && config.routes[earlier].name == route.name) {
        problems.push_back(Diagnostic{route.where, "duplicate route name " + quote(route.name) +
                                                       ", first used" + line_note(config.routes[earlier])});
        break;
      }
    }
    if (!well_formed[later]) continue;
    for (std::size_t earlier = 0; earlier < later; ++earlier) {
      if (!well_formed[earlier]) continue;
      const RouteConfig& first = config.routes[earlier];
      if (shadows(first, templates[earlier], route, templates[later])) {
        problems.push_back(Diagnostic{route.where, "route " + quote(route.name) + " can never match: route " +
                                                       quote(first.name) + line_note(first) +
                                                       " matches every request it would"});
        break;
      }
    }
  }
  return problems;
}

std::string format_diagnostic(const Diagnostic& diagnostic) {
  const SourceLocation& where = diagnostic.where;
  if (where.file.empty()) return diagnostic.message;
  std::string out = where.file;
  if (where.line > 0) {
    out += ":" + std::to_string(where.line);
    if (where.column > 0) out += ":" + std::to_string(where.column);
  }
  return out + ": " + diagnostic.message;
}

}  // namespace apimeter
