// The command line and environment: which command to run, the settings they give, --help generated from
// the settings table, and the one function that builds the effective config (defaults < file < env < flags).
// No printing and no exiting here: main() decides what to do with the diagnostics.
#pragma once

#include <string>
#include <vector>

#include "control/config.hpp"
#include "control/config_loader.hpp"
#include "control/options.hpp"
#include "top/sort_key.hpp"

namespace apimeter {

// One setting given on the command line or in the environment, not yet parsed.
struct Setting {
  const OptionRow* option = nullptr;
  std::string value;   // a repeated list flag is joined: "--upstream a --upstream b" -> "a,b"
  std::string source;  // "--listen" or "APIMETER_LISTEN", for diagnostics
};

struct CommandLine {
  enum class Command { run, check, healthcheck, top, version, help };
  Command command = Command::run;
  std::string config_path;        // --config or APIMETER_CONFIG; empty = no file
  std::vector<Setting> settings;  // environment first (table order), then flags (argument order)
  // healthcheck and top, the admin listener's clients: --admin, else APIMETER_ADMIN with a wildcard host
  // replaced by loopback.
  HostPort admin_address{"127.0.0.1", 9901};
  Duration healthcheck_timeout = std::chrono::seconds(2);  // healthcheck --timeout
  top::SortKey top_sort = top::SortKey::rps;               // top --sort
  Duration top_interval = std::chrono::seconds(1);         // top --interval
  bool top_json = false;                                   // top --json
};

// Parses `argv` (argv[0] is the program) and the APIMETER_* entries of `envp` (null-terminated; may be
// null) into `out`. Checks the shape only: commands, known flags and variables, missing values, the
// healthcheck's and top's own flags. Setting values are parsed by apply_settings(). Appends to `problems` and
// returns false when there was any; `out` is then still filled as far as possible.
bool parse_command_line(int argc, const char* const* argv, const char* const* envp, CommandLine& out,
                        std::vector<Diagnostic>& problems);

// Applies `settings` in order (later wins). Each bad value is one diagnostic naming its source; the field
// keeps its previous value. Records where each setting came from in `origins` when given.
std::vector<Diagnostic> apply_settings(Config& config, const std::vector<Setting>& settings,
                                       SettingOrigins* origins = nullptr);

// Defaults, then the config file if `command_line.config_path` is set (kept in Config::config_path), then
// the environment and flags, then validate_config(). The single entry for startup, `check` and reload.
LoadResult load_effective_config(const CommandLine& command_line);

// Usage, commands, and every setting with its flag, environment variable, YAML key, default and meaning.
std::string help_text();
std::string version_text();  // "apimeter 0.1.0"

}  // namespace apimeter
