// Loading a Config from YAML and checking it as a whole. Every problem becomes a Diagnostic with a
// position; nothing here throws to its caller, exits, or prints. It never runs on the data plane.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "control/config.hpp"

namespace apimeter {

// Where each setting's effective value came from, so checks across settings can point at it.
struct SettingOrigins {
  std::map<std::string, SourceLocation, std::less<>> by_flag;  // flag name -> last place that set it
  // Settings that were given but invalid (plus "routes" when a route was dropped): checks that would
  // only repeat the same mistake in other words, like "no upstream", are skipped for them.
  std::set<std::string, std::less<>> rejected;

  std::string file;  // the config file, if any: where a setting that kept its default is blamed

  // Where `flag` was set; when it kept its default, `file` without a line.
  SourceLocation find(std::string_view flag) const;
};

struct LoadResult {
  Config config;
  std::vector<Diagnostic> problems;  // in the order found: syntax and values, then validation
  SettingOrigins origins;
  // false when the file could not be read, is not YAML, or is not a map: nothing else is checked then.
  bool parsed = true;
  bool ok() const noexcept { return problems.empty(); }
};

// Reads and parses `path`; on success config.config_path is `path`. Checks keys, types and values
// (including each route's own fields; an invalid route is reported and left out), not the whole config:
// call validate_config() after applying the environment and flags.
LoadResult load_config_file(const std::string& path);
// Same for text already in memory; `file_name` is used in diagnostics only.
LoadResult load_config_text(std::string_view yaml, const std::string& file_name);

// Checks that need the whole, final config: an upstream exists, limits agree, listen/admin/upstream
// addresses do not collide, every route is well-formed, names are unique and no route is shadowed by an
// earlier one; the metrics settings and extra labels (well-formed, unique, not too many) and the user
// identity's name for its source. `origins` lets diagnostics point at where a setting came from.
std::vector<Diagnostic> validate_config(const Config& config, const SettingOrigins& origins = {});

// "FILE:LINE:COL: message"; "FILE: message" without a line; "message" without a file.
std::string format_diagnostic(const Diagnostic& diagnostic);

}  // namespace apimeter
