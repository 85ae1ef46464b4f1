// Command-line and environment parsing, --help, and the effective-config pipeline. Everything about a
// setting comes from the options table; this file only knows commands and the flag syntax.
// It never prints, exits or reads files itself (load_config_file does).
#include "control/cli.hpp"

#include <algorithm>
#include <array>

namespace apimeter {
namespace {

constexpr std::string_view kCommands[] = {"check", "healthcheck", "top"};
constexpr std::string_view kHealthcheckFlags[] = {"admin", "timeout"};
constexpr std::string_view kTopFlags[] = {"admin", "sort", "interval", "json"};

void report(std::vector<Diagnostic>& problems, std::string source, std::string message) {
  problems.push_back(Diagnostic{SourceLocation{std::move(source), 0, 0}, std::move(message)});
}

std::string flag_suggestion(std::string_view name, std::span<const std::string_view> flags) {
  const std::string_view near = closest_match(name, flags);
  return near.empty() ? std::string() : "; did you mean --" + std::string(near) + "?";
}

std::vector<std::string_view> all_flag_names() {
  std::vector<std::string_view> names;
  for (const OptionRow& option : option_table()) names.push_back(option.flag);
  names.push_back("help");
  names.push_back("version");
  return names;
}

// The admin clients connect, so a wildcard bind address means "this machine".
HostPort reachable(HostPort admin) {
  if (admin.host == "0.0.0.0") admin.host = "127.0.0.1";
  if (admin.host == "::") admin.host = "::1";
  return admin;
}

bool parse_admin_address(std::string_view text, const std::string& source, HostPort& out,
                             std::vector<Diagnostic>& problems) {
  std::string error;
  HostPort admin;
  if (!parse_host_port(text, /*allow_port_zero=*/false, admin, error)) {
    report(problems, source, "invalid value " + quote(text) + ": " + error);
    return false;
  }
  out = reachable(std::move(admin));
  return true;
}

// The OpenTelemetry SDK environment variables apimeter honours, as settings of ours. They rank below
// APIMETER_* variables and flags; generic OTLP variables below their TRACES_ forms. Values in
// milliseconds gain their unit; the endpoint gains the traces path as the OTLP spec says.
struct OtelVariable {
  std::string_view name;
  std::string_view flag;
  int rank;  // lower is applied first
  std::string (*translate)(std::string_view value);
};

std::string as_is(std::string_view value) { return std::string(value); }
std::string milliseconds(std::string_view value) { return std::string(value) + "ms"; }
std::string traces_url(std::string_view base) {
  std::string url(base);
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url + "/v1/traces";
}
std::string exporter_enabled(std::string_view value) {
  return value == "otlp" ? "true" : value == "none" ? "false" : "OTEL_TRACES_EXPORTER must be otlp or none";
}
std::string sdk_disabled(std::string_view value) { return value == "true" ? "false" : "true"; }

constexpr OtelVariable kOtelVariables[] = {
    {"OTEL_SDK_DISABLED", "tracing-enabled", 1, &sdk_disabled},
    {"OTEL_TRACES_EXPORTER", "tracing-enabled", 0, &exporter_enabled},
    {"OTEL_EXPORTER_OTLP_ENDPOINT", "tracing-endpoint", 0, &traces_url},
    {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "tracing-endpoint", 1, &as_is},
    {"OTEL_EXPORTER_OTLP_CERTIFICATE", "tracing-ca-file", 0, &as_is},
    {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "tracing-ca-file", 1, &as_is},
    {"OTEL_EXPORTER_OTLP_HEADERS", "tracing-headers", 0, &as_is},
    {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "tracing-headers", 1, &as_is},
    {"OTEL_EXPORTER_OTLP_COMPRESSION", "tracing-compression", 0, &as_is},
    {"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "tracing-compression", 1, &as_is},
    {"OTEL_EXPORTER_OTLP_TIMEOUT", "tracing-export-timeout", 0, &milliseconds},
    {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "tracing-export-timeout", 1, &milliseconds},
    {"OTEL_TRACES_SAMPLER", "tracing-sampler", 0, &as_is},
    {"OTEL_TRACES_SAMPLER_ARG", "tracing-sampler-ratio", 0, &as_is},
    {"OTEL_SERVICE_NAME", "tracing-service-name", 0, &as_is},
    {"OTEL_RESOURCE_ATTRIBUTES", "tracing-resource-attributes", 0, &as_is},
    {"OTEL_BSP_SCHEDULE_DELAY", "tracing-batch-delay", 0, &milliseconds},
    {"OTEL_BSP_MAX_QUEUE_SIZE", "tracing-max-queue-spans", 0, &as_is},
    {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "tracing-max-batch-spans", 0, &as_is},
};

// OTEL_* entries of the environment as settings, in precedence order. Only http/protobuf is spoken.
std::vector<Setting> read_otel_environment(const char* const* envp, std::vector<Diagnostic>& problems) {
  std::vector<std::pair<int, Setting>> found;
  for (const char* const* entry = envp; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::size_t equals = text.find('=');
    if (!text.starts_with("OTEL_") || equals == std::string_view::npos) continue;
    const std::string_view name = text.substr(0, equals);
    const std::string_view value = text.substr(equals + 1);
    if (value.empty()) continue;
    if ((name == "OTEL_EXPORTER_OTLP_PROTOCOL" || name == "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") &&
        value != "http/protobuf") {
      report(problems, std::string(name), "only http/protobuf is supported, not " + std::string(value));
      continue;
    }
    for (const OtelVariable& v : kOtelVariables) {
      if (v.name != name) continue;
      found.emplace_back(v.rank, Setting{find_option_by_flag(v.flag), v.translate(value), std::string(name)});
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second.source < b.second.source;
  });
  std::vector<Setting> settings;
  for (auto& [rank, setting] : found) settings.push_back(std::move(setting));
  return settings;
}

// Returns the admin clients' APIMETER_ADMIN, which is only parsed when no --admin flag overrides it.
std::string_view read_environment(const char* const* envp, CommandLine& out,
                                  std::vector<Diagnostic>& problems) {
  std::string_view admin_from_env;
  if (envp == nullptr) return admin_from_env;
  std::vector<std::string_view> env_names;
  std::vector<std::string> env_name_storage;
  for (const OptionRow& option : option_table()) env_name_storage.push_back(option.env_name());
  for (const std::string& name : env_name_storage) env_names.push_back(name);

  for (const char* const* entry = envp; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::size_t equals = text.find('=');
    const std::string_view name = text.substr(0, equals);
    if (!name.starts_with("APIMETER_") || equals == std::string_view::npos) continue;
    const std::string_view value = text.substr(equals + 1);
    if (out.command == CommandLine::Command::healthcheck || out.command == CommandLine::Command::top) {
      // Only the admin address matters to a client; the rest of the proxy's environment is not its business.
      if (name == "APIMETER_ADMIN") admin_from_env = value;
      continue;
    }
    const OptionRow* option = find_option_by_env(name);
    if (option == nullptr) {
      const std::string_view near = closest_match(name, env_names);
      report(problems, std::string(name),
             "unknown environment variable" +
                 (near.empty() ? std::string() : "; did you mean " + std::string(near) + "?"));
      continue;
    }
    // An empty variable is how compose files and shells say "not set".
    if (value.empty()) continue;
    if (option->flag == "config") {
      out.config_path = std::string(value);
      continue;
    }
    out.settings.push_back(Setting{option, std::string(value), std::string(name)});
  }
  // The environment is unordered; table order keeps diagnostics stable. Each variable appears once, so
  // (row, name) is a total order and a plain sort is stable enough. (std::stable_sort's temporary buffer
  // trips AddressSanitizer's alloc-dealloc check with GCC 12's libstdc++.)
  std::sort(out.settings.begin(), out.settings.end(), [](const Setting& a, const Setting& b) {
    return a.option != b.option ? a.option < b.option : a.source < b.source;
  });
  if (out.command != CommandLine::Command::healthcheck && out.command != CommandLine::Command::top) {
    std::vector<Setting> otel = read_otel_environment(envp, problems);
    out.settings.insert(out.settings.begin(), std::make_move_iterator(otel.begin()), std::make_move_iterator(otel.end()));
  }
  return admin_from_env;
}

std::string pad(std::string text, std::size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

}  // namespace

bool parse_command_line(int argc, const char* const* argv, const char* const* envp, CommandLine& out,
                        std::vector<Diagnostic>& problems) {
  const std::size_t problems_before = problems.size();
  out = CommandLine{};
  int i = 1;
  if (argc > 1 && argv[1][0] != '-') {
    const std::string_view command = argv[1];
    if (command == "check") {
      out.command = CommandLine::Command::check;
    } else if (command == "healthcheck") {
      out.command = CommandLine::Command::healthcheck;
    } else if (command == "top") {
      out.command = CommandLine::Command::top;
    } else if (command == "help") {
      out.command = CommandLine::Command::help;
    } else if (command == "version") {
      out.command = CommandLine::Command::version;
    } else {
      const std::string_view near = closest_match(command, kCommands);
      report(problems, std::string(command),
             "unknown command; use check, healthcheck, top, --help or --version" +
                 (near.empty() ? std::string() : " (did you mean " + std::string(near) + "?)"));
      return false;
    }
    i = 2;
  }
  const std::string_view admin_from_env = read_environment(envp, out, problems);
  bool admin_flag_given = false;

  const bool healthcheck = out.command == CommandLine::Command::healthcheck;
  const bool top = out.command == CommandLine::Command::top;
  const std::vector<std::string_view> flag_names = all_flag_names();
  bool want_help = out.command == CommandLine::Command::help;
  bool want_version = out.command == CommandLine::Command::version;
  for (; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      want_help = true;
      continue;
    }
    if (arg == "--version") {
      want_version = true;
      continue;
    }
    if (!arg.starts_with("--") || arg.size() == 2) {
      std::string hint;
      if (out.command == CommandLine::Command::check && out.config_path.empty()) {
        hint = "; did you mean --config " + std::string(arg) + "?";
      }
      report(problems, std::string(arg), "unexpected argument; flags start with --" + hint);
      continue;
    }
    const std::size_t equals = arg.find('=');
    const std::string_view name =
        arg.substr(2, equals == std::string_view::npos ? std::string_view::npos : equals - 2);
    const std::string source = "--" + std::string(name);
    const bool has_inline = equals != std::string_view::npos;
    const bool next_is_value = i + 1 < argc && !std::string_view(argv[i + 1]).starts_with("--");
    // Takes this flag's value from "--name=value" or the next argument; false (reported) when missing.
    auto take_value = [&](std::string_view& value) {
      if (has_inline) {
        value = arg.substr(equals + 1);
        return true;
      }
      if (!next_is_value) {
        report(problems, source, "needs a value: " + source + " VALUE or " + source + "=VALUE");
        return false;
      }
      value = argv[++i];
      return true;
    };

    // The admin clients' duration flags: the value, at least `least`, into `into`; otherwise one problem.
    auto take_duration = [&](Duration least, std::string_view too_small, Duration& into) {
      std::string_view value;
      if (!take_value(value)) return;
      Duration parsed{};
      std::string error;
      if (!parse_duration(value, parsed, error)) report(problems, source, "invalid value " + quote(value) + ": " + error);
      else if (parsed < least) report(problems, source, std::string(too_small));
      else into = parsed;
    };

    if (healthcheck) {
      std::string_view value;
      if (name == "admin") {
        admin_flag_given = true;
        if (take_value(value)) parse_admin_address(value, source, out.admin_address, problems);
      } else if (name == "timeout") {
        take_duration(Duration(1), "must be more than 0", out.healthcheck_timeout);
      } else {
        report(problems, source,
               "healthcheck takes only --admin HOST:PORT and --timeout DURATION" +
                   flag_suggestion(name, kHealthcheckFlags));
        if (!has_inline && next_is_value) ++i;
      }
      continue;
    }
    if (top) {
      std::string_view value;
      if (name == "admin") {
        admin_flag_given = true;
        if (take_value(value)) parse_admin_address(value, source, out.admin_address, problems);
      } else if (name == "sort") {
        if (!take_value(value)) continue;
        if (auto key = top::parse_sort_key(value)) out.top_sort = *key;
        else report(problems, source, "invalid value " + quote(value) + ": use rps, errors, p95 or bytes");
      } else if (name == "interval") {
        take_duration(std::chrono::milliseconds(100), "must be at least 100ms", out.top_interval);
      } else if (name == "json" && !has_inline) {
        out.top_json = true;
      } else {
        report(problems, source,
               "top takes only --admin HOST:PORT, --sort rps|errors|p95|bytes, --interval DURATION and --json" +
                   flag_suggestion(name, kTopFlags));
        if (!has_inline && next_is_value) ++i;
      }
      continue;
    }

    const OptionRow* option = find_option_by_flag(name);
    if (option == nullptr) {
      report(problems, source, "unknown flag" + flag_suggestion(name, flag_names));
      // Its value, if it has one, would otherwise be reported again as a stray argument.
      if (!has_inline && next_is_value) ++i;
      continue;
    }
    std::string_view value;
    if (option->kind == ValueKind::boolean && !has_inline) {
      // A bare boolean flag means true; "--flag false" is still accepted.
      const std::string_view next = i + 1 < argc ? std::string_view(argv[i + 1]) : std::string_view();
      value = "true";
      if (next == "true" || next == "false") value = argv[++i];
    } else if (!take_value(value)) {
      continue;
    }
    if (option->flag == "config") {
      if (value.empty()) {
        report(problems, source, "needs a file name");
      } else {
        out.config_path = std::string(value);
      }
      continue;
    }
    // Repeating a list flag adds to the list; it replaces what the file or environment said as a whole.
    if (option->is_list()) {
      const auto previous = std::find_if(out.settings.begin(), out.settings.end(), [&](const Setting& s) {
        return s.option == option && s.source.starts_with("--");
      });
      if (previous != out.settings.end()) {
        previous->value += ",";
        previous->value += value;
        continue;
      }
    }
    out.settings.push_back(Setting{option, std::string(value), source});
  }

  if ((healthcheck || top) && !admin_flag_given && !admin_from_env.empty()) {
    parse_admin_address(admin_from_env, "APIMETER_ADMIN", out.admin_address, problems);
  }
  if (want_help) {
    out.command = CommandLine::Command::help;
  } else if (want_version) {
    out.command = CommandLine::Command::version;
  } else if (out.command == CommandLine::Command::check && out.config_path.empty()) {
    report(problems, "check", "needs --config FILE (or APIMETER_CONFIG)");
  }
  return problems.size() == problems_before;
}

std::vector<Diagnostic> apply_settings(Config& config, const std::vector<Setting>& settings,
                                       SettingOrigins* origins) {
  std::vector<Diagnostic> problems;
  for (const Setting& setting : settings) {
    if (setting.option == nullptr) continue;
    const std::string flag(setting.option->flag);
    std::string error;
    const bool ok = setting.option->assign(config, setting.value, error);
    if (!ok) {
      problems.push_back(Diagnostic{SourceLocation{setting.source, 0, 0},
                                    "invalid value " + quote(setting.value) + ": " + error});
    }
    if (origins == nullptr) continue;
    origins->by_flag[flag] = SourceLocation{setting.source, 0, 0};
    if (ok) {
      origins->rejected.erase(flag);
    } else {
      origins->rejected.insert(flag);
    }
  }
  return problems;
}

LoadResult load_effective_config(const CommandLine& command_line) {
  LoadResult result;
  if (!command_line.config_path.empty()) result = load_config_file(command_line.config_path);
  std::vector<Diagnostic> flag_problems =
      apply_settings(result.config, command_line.settings, &result.origins);
  result.problems.insert(result.problems.end(), std::make_move_iterator(flag_problems.begin()),
                         std::make_move_iterator(flag_problems.end()));
  result.config.config_path = command_line.config_path;
  // A file that is not YAML leaves nothing meaningful to check; its syntax error is the one thing to fix.
  if (result.parsed) {
    std::vector<Diagnostic> invalid = validate_config(result.config, result.origins);
    result.problems.insert(result.problems.end(), std::make_move_iterator(invalid.begin()),
                           std::make_move_iterator(invalid.end()));
  }
  return result;
}

std::string help_text() {
  const Config defaults;
  std::string out =
      version_text() +
      " - HTTP/1.1 reverse proxy that forwards to one API service and measures its traffic\n"
      "\n"
      "Usage:\n"
      "  apimeter [FLAGS]                     run the proxy\n"
      "  apimeter check --config FILE [FLAGS] load and validate the config, print every problem;\n"
      "                                       exit 0 when it is valid\n"
      "  apimeter healthcheck [--admin HOST:PORT] [--timeout DURATION]\n"
      "                                       GET /readyz on the admin listener (default\n"
      "                                       127.0.0.1:9901 or APIMETER_ADMIN, 2s); exit 0 on 200\n"
      "  apimeter top [--admin HOST:PORT] [--sort rps|errors|p95|bytes] [--interval DURATION] [--json]\n"
      "                                       live per-route view of a running proxy (its /stats):\n"
      "                                       refreshes in place on a terminal (keys r e p b sort,\n"
      "                                       q quits), prints the table once otherwise, the JSON\n"
      "                                       with --json; default admin as for healthcheck, 1s\n"
      "  apimeter --version                   print the version\n"
      "  apimeter --help                      print this help\n"
      "\n"
      "Settings come from the config file, then APIMETER_* environment variables, then flags;\n"
      "the later wins. Flags take --name VALUE or --name=VALUE; a bare boolean flag means true.\n"
      "Unknown flags and unknown APIMETER_* variables are errors; empty variables are ignored.\n"
      "The OpenTelemetry SDK variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME,\n"
      "...) set the tracing-* settings too, ranked below APIMETER_* variables (list in the README).\n"
      "\n"
      "Flags, with their environment variable and YAML key; then meaning and default:\n";
  std::size_t flag_width = 0;
  std::size_t env_width = 0;
  for (const OptionRow& option : option_table()) {
    flag_width = std::max(flag_width, option.flag.size() + value_placeholder(option.kind).size() + 7);
    env_width = std::max(env_width, option.env_name().size() + 2);
  }
  for (const OptionRow& option : option_table()) {
    std::string shown = option.render(defaults);
    if (shown.empty()) shown = "none";
    out += pad("  --" + std::string(option.flag) + " " + std::string(value_placeholder(option.kind)),
               flag_width);
    out += option.yaml_path.empty() ? option.env_name()
                                    : pad(option.env_name(), env_width) + std::string(option.yaml_path);
    out += "\n      " + std::string(option.help) + " (default " + shown + ")\n";
  }
  out +=
      "\n"
      "Values:\n"
      "  DURATION  whole number and unit: 250ms, 10s, 2m, 1h; 0 disables\n"
      "  SIZE      bytes, or a whole number of B, KiB, MiB or GiB: 512, 16KiB, 1MiB\n"
      "  HOST:PORT 0.0.0.0:8080, [::1]:8080, shop:3000\n"
      "  SECONDS   histogram bounds: plain seconds (0.005, 2.5) or durations (5ms, 2500ms)\n"
      "  SOURCE    none, header, jwt_claim, api_key, cookie, client_address or client_certificate\n"
      "  [,...]    a comma-separated list; repeating the flag adds to it\n"
      "\n"
      "Routes (with their own buckets) and metrics.extra_labels are configured in the file only;\n"
      "see conf/apimeter.yaml.\n";
  return out;
}

std::string version_text() {
  return std::string("apimeter ") + APIMETER_VERSION;
}

}  // namespace apimeter
