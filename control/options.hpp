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

namespace apimeter {

// How a setting's text is spelled. Each kind has one parser below and one line in the --help legend.
enum class ValueKind {
  duration,          // "10s", "250ms", "2m", "1h"; "0" disables
  size,              // bytes: "512", "512B", "16KiB", "1MiB", "1GiB"
  count,             // unsigned decimal
  boolean,           // "true" | "false"
  string,            // any text, may be empty
  path,              // a file name; not empty
  bind_address,      // host:port to listen on; port 0 = any free port
  endpoint_list,     // host:port[,host:port...]; port 1-65535; YAML also takes a list
  access_log,        // "stdout" | "off" | a file path
  unmatched_routes,  // "forward" | "reject"
  duration_buckets,  // histogram bounds, increasing: "5ms,10ms,1s" or seconds "0.005,0.01,1"; YAML list too
  size_buckets,      // histogram bounds, increasing: "64,1KiB,1MiB"; YAML also takes a list
  route_label,       // "template" | "name"
  identity_source,   // "none" | "header" | "jwt_claim" | "api_key" | "cookie" | "client_address"
  ratio,             // a number from 0 to 1: "0.01", "1"
  trace_sampler,     // an OTEL_TRACES_SAMPLER name: "parentbased_traceidratio", "always_on", ...
  b3_propagation,    // "off" | "single" | "multi"
  compression,       // "none" | "gzip"
  key_value_list,    // "key=value,key2=value2" with URL-encoded values, as OTEL_EXPORTER_OTLP_HEADERS
  http_url,          // "http://host:port/path"
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

// Value parsers shared by the table, the route loader and the healthcheck command. Each returns false and
// a reason (without the offending text, which callers quote) when `text` is not a valid spelling.
bool parse_duration(std::string_view text, Duration& out, std::string& error);
bool parse_size(std::string_view text, std::uint64_t& out, std::string& error);
bool parse_count(std::string_view text, std::uint64_t& out, std::string& error);
bool parse_bool(std::string_view text, bool& out, std::string& error);
bool parse_host_port(std::string_view text, bool allow_port_zero, HostPort& out, std::string& error);
bool parse_host_port_list(std::string_view text, std::vector<HostPort>& out, std::string& error);
// One histogram bound in seconds: a duration ("250ms", "2s") or plain seconds ("0.25", "2"); from 1us
// to a year. The +Inf bucket is implied and may not be written.
bool parse_bucket_seconds(std::string_view text, double& seconds, std::string& error);
// Comma-separated bounds, strictly increasing: "0.005,0.01,1", "5ms, 10ms, 1s". A bad entry is named when
// there are several.
bool parse_duration_buckets(std::string_view text, std::vector<double>& out, std::string& error);
bool parse_size_buckets(std::string_view text, std::vector<std::uint64_t>& out, std::string& error);
bool parse_ratio(std::string_view text, double& out, std::string& error);
// "k=v,k2=v2": keys trimmed and not empty, values trimmed and percent-decoded (the OTel env syntax).
// `header_names` also requires keys to be HTTP tokens and values to be valid field values.
bool parse_key_values(std::string_view text, bool header_names,
                      std::vector<std::pair<std::string, std::string>>& out, std::string& error);
// "http://host[:port][/path]"; port 80 when absent, path "/" when absent. https is refused with a reason.
struct HttpUrl {
  std::string host;
  std::uint16_t port = 80;
  std::string path = "/";
};
bool parse_http_url(std::string_view text, HttpUrl& out, std::string& error);

// Inverse of the parsers, in the largest unit that is exact: 600000ms -> "10m", 16384 -> "16KiB".
std::string format_duration(Duration value);
std::string format_size(std::uint64_t bytes);
std::string format_seconds(double seconds);  // shortest exact decimal: 0.005, 2.5, 10

// The candidate closest to `word` by edit distance when it is close enough to be a likely typo, else "".
std::string_view closest_match(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace apimeter
