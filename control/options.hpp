// The one table of scalar settings: each row gives a setting's flag, environment variable, YAML key, help
// line, value kind and the Config field it writes. Flags, env, YAML and --help are all driven from it.
// It parses values and nothing else: no I/O, no cross-setting validation (that is config_loader's).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "control/config.hpp"
#include "control/value_syntax.hpp"

namespace apimeter {

// How a setting's text is spelled. Each kind has one parser (value_syntax.hpp) and one line in the --help
// legend.
enum class ValueKind {
  duration,          // "10s", "250ms", "2m", "1h"; "0" disables
  size,              // bytes: "512", "512B", "16KiB", "1MiB", "1GiB"
  count,             // unsigned decimal
  boolean,           // "true" | "false"
  string,            // any text, may be empty
  path,              // a file name; not empty
  optional_path,     // a file name, or empty for none
  bind_address,      // host:port to listen on; port 0 = any free port
  endpoint_list,     // host:port[,host:port...]; port 1-65535; YAML also takes a list
  access_log,        // "stdout" | "off" | a file path
  unmatched_routes,  // "forward" | "reject"
  duration_buckets,  // histogram bounds, increasing: "5ms,10ms,1s" or seconds "0.005,0.01,1"; YAML list too
  size_buckets,      // histogram bounds, increasing: "64,1KiB,1MiB"; YAML also takes a list
  route_label,       // "template" | "name"
  identity_source,   // "none" | "header" | "jwt_claim" | "api_key" | "cookie" | "client_address" | ...
  ratio,             // a number from 0 to 1: "0.01", "1"
  trace_sampler,     // an OTEL_TRACES_SAMPLER name: "parentbased_traceidratio", "always_on", ...
  b3_propagation,    // "off" | "single" | "multi"
  compression,       // "none" | "gzip"
  key_value_list,    // "key=value,key2=value2" with URL-encoded values, as OTEL_EXPORTER_OTLP_HEADERS
  http_url,          // "http://host:port/path" or "https://..."
  tls_version,       // "1.2" | "1.3"
  client_certificate_mode,  // "required" | "optional"
};

struct OptionRow {
  std::string_view flag;       // "client-header-timeout"; env is APIMETER_ + upper snake of it
  std::string_view yaml_path;  // "timeouts.client_header"; empty = flag and environment only
  ValueKind kind;
  std::string_view help;  // one line: what it bounds and, for limits, the status when it trips
  // Parses `text` and stores it into its field; on failure leaves `config` alone and says why in `error`.
  bool (*assign)(Config& config, std::string_view text, std::string& error);
  // The field's current value in the same spelling assign() accepts ("" for an empty list).
  std::string (*render)(const Config& config);

  std::string env_name() const;  // "APIMETER_CLIENT_HEADER_TIMEOUT"
  bool is_list() const noexcept {
    return kind == ValueKind::endpoint_list || kind == ValueKind::duration_buckets ||
           kind == ValueKind::size_buckets;
  }
};

// Every setting, in --help order. The table is constant; callable from any thread.
std::span<const OptionRow> option_table() noexcept;
const OptionRow* find_option_by_flag(std::string_view flag) noexcept;       // "listen"
const OptionRow* find_option_by_env(std::string_view env_name) noexcept;    // "APIMETER_LISTEN"
const OptionRow* find_option_by_yaml(std::string_view yaml_path) noexcept;  // "timeouts.client_header"

// "DURATION", "SIZE", ... for usage lines, and "a duration like 10s or 250ms" for messages.
std::string_view value_placeholder(ValueKind kind) noexcept;
std::string_view value_description(ValueKind kind) noexcept;
// What one item of a YAML list for a list kind must be: "a size like 512, 16KiB or 1MiB".
std::string_view item_description(ValueKind kind) noexcept;

}  // namespace apimeter
