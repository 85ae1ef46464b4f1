// YAML -> Config through the settings table: keys, types and values, each route and extra label as it is
// read. Reports every problem it finds as a positioned Diagnostic and keeps going; exceptions from yaml-cpp
// are caught here and never leave. Knows the YAML layout; knows nothing of flags or the environment
// (cli.cpp), of runtime state, or of checks across settings (config_validation.cpp).
#include "control/config_loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "control/config_checks.hpp"
#include "control/options.hpp"
#include "control/value_syntax.hpp"

namespace apimeter {
namespace {

constexpr std::string_view kRouteKeys[] = {
    "name",   "template", "exact", "prefix", "methods", "request_timeout", "upstream_response_timeout",
    "buckets"};
constexpr std::string_view kExtraLabelKeys[] = {"name", "header", "query", "values", "max_values"};
// Keys that are lists of maps, loaded here rather than through the settings table.
constexpr std::string_view kListKeys[] = {"routes", "metrics.extra_labels"};

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
