// The spellings of setting values: durations, sizes, counts, booleans, addresses, histogram bounds, ratios,
// key=value lists and URLs, each parsed strictly with a reason when it is wrong, and formatted back in the
// same spelling. Shared by the settings table, the YAML loader, the CLI and the admin client; no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/config.hpp"

namespace apimeter {

// Each parser returns false and a reason (without the offending text, which callers quote) when `text` is not a valid spelling.
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
// http:// or https:// (tls), the port defaulting to 80 or 443.
struct HttpUrl {
  bool tls = false;
  std::string host;
  std::uint16_t port = 80;
  std::string path = "/";
};
bool parse_http_url(std::string_view text, HttpUrl& out, std::string& error);

// Inverse of the parsers, in the largest unit that is exact: 600000ms -> "10m", 16384 -> "16KiB".
std::string format_duration(Duration value);
std::string format_size(std::uint64_t bytes);
std::string format_seconds(double seconds);  // shortest exact decimal: 0.005, 2.5, 10

// `text` in double quotes: how every config message shows what the user wrote.
std::string quote(std::string_view text);

// The candidate closest to `word` by edit distance when it is close enough to be a likely typo, else "".
std::string_view closest_match(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace apimeter
