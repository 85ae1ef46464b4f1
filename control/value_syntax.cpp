// The value spellings (see value_syntax.hpp): strict parsers with the reason a text is refused, and their
// inverses. The number front end is shared so every kind words the same mistakes the same way.
#include "control/value_syntax.hpp"

#include "common/http_text.hpp"
#include "proxy/http1/http_head_parser.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <sstream>
#include <vector>

namespace apimeter {
namespace {

using namespace std::chrono_literals;

// Longer timeouts than this are almost certainly typos, and they would overflow a steady_clock deadline.
constexpr Duration kMaxDuration = std::chrono::duration_cast<Duration>(std::chrono::hours(24 * 365));

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Leading decimal digits of `text` into `out`; returns how many characters were read (0 = none), and
// sets `overflow` instead of wrapping.
std::size_t read_digits(std::string_view text, std::uint64_t& out, bool& overflow) noexcept {
  out = 0;
  overflow = false;
  std::size_t i = 0;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    if (__builtin_mul_overflow(out, 10u, &out) ||
        __builtin_add_overflow(out, static_cast<std::uint64_t>(text[i] - '0'), &out)) {
      overflow = true;
    }
  }
  return i;
}

// A unit suffix and what one of it is worth in the parser's base unit (milliseconds, bytes).
struct UnitFactor {
  std::string_view unit;
  std::uint64_t factor;
};
constexpr UnitFactor kDurationUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}};
constexpr UnitFactor kSizeUnits[] = {{"", 1}, {"B", 1}, {"KiB", 1024}, {"MiB", 1024 * 1024}, {"GiB", 1024 * 1024 * 1024}};

bool unit_factor(std::span<const UnitFactor> units, std::string_view unit, std::uint64_t& factor) noexcept {
  for (const UnitFactor& u : units) {
    if (u.unit == unit) {
      factor = u.factor;
      return true;
    }
  }
  return false;
}

// Shared front of the number parsers: the messages for the spellings every kind rejects alike.
bool read_number(std::string_view text, std::string_view example, std::string_view fraction_hint,
                 std::uint64_t& value, std::size_t& used, std::string& error) {
  if (text.empty()) {
    error = "empty; expected " + std::string(example);
    return false;
  }
  if (text.front() == '-') {
    error = "must not be negative";
    return false;
  }
  bool overflow = false;
  used = read_digits(text, value, overflow);
  if (used == 0) {
    error = "expected " + std::string(example);
    return false;
  }
  if (overflow) {
    error = "too large";
    return false;
  }
  if (used < text.size() && (text[used] == '.' || text[used] == ',')) {
    error = "must be a whole number" + std::string(fraction_hint);
    return false;
  }
  return true;
}

// Splits `text` on commas and parses each entry with `parse_one`, requiring each to be greater than the
// one before. `example` finishes the message for an empty list or entry.
template <typename T, typename ParseOne>
bool parse_increasing_list(std::string_view text, std::string_view example, ParseOne parse_one,
                           std::vector<T>& out, std::string& error) {
  if (text.empty()) {
    error = "empty; expected " + std::string(example);
    return false;
  }
  std::vector<T> result;
  std::string_view previous;
  const bool several = text.find(',') != std::string_view::npos;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view item = trim_ows(text.substr(0, comma));
    if (item.empty()) {
      error = "empty entry; expected " + std::string(example);
      return false;
    }
    T value{};
    std::string reason;
    if (!parse_one(item, value, reason)) {
      error = several ? "\"" + std::string(item) + "\": " + reason : reason;
      return false;
    }
    if (!result.empty() && !(value > result.back())) {
      error = std::string(item) + " is not greater than " + std::string(previous) +
              ", the bucket before it; buckets must be strictly increasing";
      return false;
    }
    result.push_back(value);
    previous = item;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  out = std::move(result);
  return true;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> previous(b.size() + 1), current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const bool same = a[i - 1] == b[j - 1] || (a[i - 1] == '-' && b[j - 1] == '_') ||
                        (a[i - 1] == '_' && b[j - 1] == '-');
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (same ? 0 : 1)});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

bool valid_host_name(std::string_view host) noexcept {
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return is_alpha(c) || is_digit(c) || c == '.' || c == '-' || c == '_'; });
}

bool valid_ipv6_text(std::string_view host) noexcept {
  // Address, then an optional %zone (interface name).
  const std::size_t zone = host.find('%');
  const std::string_view address = host.substr(0, zone);
  if (address.find(':') == std::string_view::npos) return false;
  const bool address_ok = std::all_of(address.begin(), address.end(), [](char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
  });
  if (!address_ok) return false;
  if (zone == std::string_view::npos) return true;
  return zone + 1 < host.size() && valid_host_name(host.substr(zone + 1));
}

}  // namespace

bool parse_duration(std::string_view text, Duration& out, std::string& error) {
  std::uint64_t value = 0;
  std::size_t used = 0;
  if (!read_number(text, "a duration like 10s or 250ms", " (write 1500ms, not 1.5s)", value, used, error))
    return false;
  const std::string_view unit = text.substr(used);
  std::uint64_t unit_ms = 0;
  if (unit.empty()) {
    if (value != 0) {
      error = "missing unit: use ms, s, m or h (only 0 may be written without one)";
      return false;
    }
    unit_ms = 1;
  } else if (!unit_factor(kDurationUnits, unit, unit_ms)) {
    error = "unknown unit \"" + std::string(unit) + "\": use ms, s, m or h";
    return false;
  }
  std::uint64_t ms = 0;
  if (__builtin_mul_overflow(value, unit_ms, &ms) || ms > static_cast<std::uint64_t>(kMaxDuration.count())) {
    error = "longer than a year; use 0 to disable";
    return false;
  }
  out = Duration(static_cast<Duration::rep>(ms));
  return true;
}

bool parse_size(std::string_view text, std::uint64_t& out, std::string& error) {
  std::uint64_t value = 0;
  std::size_t used = 0;
  if (!read_number(text, "a size like 512, 16KiB or 1MiB", " (write 1536KiB, not 1.5MiB)", value, used,
                   error))
    return false;
  const std::string_view unit = text.substr(used);
  std::uint64_t multiplier = 0;
  if (!unit_factor(kSizeUnits, unit, multiplier)) {
    error = "unknown unit \"" + std::string(unit) + "\": use B, KiB, MiB or GiB, or bytes without a unit";
    return false;
  }
  if (__builtin_mul_overflow(value, multiplier, &out)) {
    error = "too large";
    return false;
  }
  return true;
}

bool parse_count(std::string_view text, std::uint64_t& out, std::string& error) {
  std::size_t used = 0;
  if (!read_number(text, "a whole number", "", out, used, error)) return false;
  if (used != text.size()) {
    error = "expected a whole number";
    return false;
  }
  return true;
}

bool parse_bool(std::string_view text, bool& out, std::string& error) {
  if (text == "true") {
    out = true;
  } else if (text == "false") {
    out = false;
  } else {
    error = "use true or false";
    return false;
  }
  return true;
}

bool parse_host_port(std::string_view text, bool allow_port_zero, HostPort& out, std::string& error) {
  if (text.empty()) {
    error = "empty; expected host:port";
    return false;
  }
  std::string_view host;
  std::string_view port_text;
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      error = "missing ] after the IPv6 address";
      return false;
    }
    host = text.substr(1, close - 1);
    if (!valid_ipv6_text(host)) {
      error = "invalid IPv6 address between [ and ]";
      return false;
    }
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      error = "missing :PORT after ]";
      return false;
    }
    port_text = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      error = "missing :PORT";
      return false;
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      error = "an IPv6 address needs brackets, e.g. [::1]:8080";
      return false;
    }
    if (host.empty()) {
      error = "missing host; write 0.0.0.0:PORT for every interface";
      return false;
    }
    if (!valid_host_name(host)) {
      error = "invalid host \"" + std::string(host) + "\"";
      return false;
    }
  }
  std::uint64_t port = 0;
  bool overflow = false;
  if (port_text.empty() || read_digits(port_text, port, overflow) != port_text.size()) {
    error = "port must be a number";
    return false;
  }
  if (overflow || port > 65535 || (port == 0 && !allow_port_zero)) {
    error = allow_port_zero ? "port must be 0-65535" : "port must be 1-65535";
    return false;
  }
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(port);
  return true;
}

bool parse_host_port_list(std::string_view text, std::vector<HostPort>& out, std::string& error) {
  std::vector<HostPort> result;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view item = trim_ows(text.substr(0, comma));
    if (item.empty()) {
      error = "empty entry; expected host:port[,host:port...]";
      return false;
    }
    HostPort endpoint;
    std::string reason;
    if (!parse_host_port(item, /*allow_port_zero=*/false, endpoint, reason)) {
      // Name the entry only when there are several; a single one is already quoted by the caller.
      const bool several = comma != std::string_view::npos || !result.empty();
      error = several ? "\"" + std::string(item) + "\": " + reason : reason;
      return false;
    }
    result.push_back(std::move(endpoint));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  out = std::move(result);
  return true;
}

bool parse_bucket_seconds(std::string_view text, double& seconds, std::string& error) {
  constexpr double kMinSeconds = 1e-6;
  constexpr double kMaxSeconds = 365.0 * 24 * 3600;
  if (text == "+Inf" || text == "Inf" || text == "inf" || text == "+inf" || text == ".inf") {
    error = "the +Inf bucket is always there; leave it out";
    return false;
  }
  double value = 0;
  if (!text.empty() && is_digit(text.front()) && text.find_first_not_of("0123456789.") == text.npos) {
    // Plain seconds, as Prometheus writes the le label.
    const auto [end, ec] =
        std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
    if (ec != std::errc() || end != text.data() + text.size()) {
      error = "expected a duration like 100ms or plain seconds like 0.1";
      return false;
    }
  } else {
    Duration duration{};
    if (!parse_duration(text, duration, error)) {
      if (error.starts_with("unknown unit")) error += "; or write plain seconds like 0.0005";
      return false;
    }
    value = static_cast<double>(duration.count()) / 1000.0;
  }
  if (value <= 0) {
    error = "must be more than 0";
    return false;
  }
  if (value < kMinSeconds) {
    error = "shorter than 1us (0.000001)";
    return false;
  }
  if (value > kMaxSeconds) {
    error = "longer than a year";
    return false;
  }
  seconds = value;
  return true;
}

bool parse_duration_buckets(std::string_view text, std::vector<double>& out, std::string& error) {
  return parse_increasing_list<double>(text, "bounds like 0.005,0.1,1 or 5ms,100ms,1s", parse_bucket_seconds,
                                       out, error);
}

bool parse_size_buckets(std::string_view text, std::vector<std::uint64_t>& out, std::string& error) {
  return parse_increasing_list<std::uint64_t>(text, "bounds like 64,1KiB,1MiB", parse_size, out, error);
}

std::string format_seconds(double seconds) {
  // Shortest fixed notation that reads back as the same double; bounds are 1us to a year, so it fits.
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, seconds, std::chars_format::fixed);
  if (ec != std::errc()) return std::to_string(seconds);
  return std::string(buffer, end);
}

std::string format_duration(Duration value) {
  const auto ms = value.count();
  if (ms == 0) return "0";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string format_size(std::uint64_t bytes) {
  if (bytes == 0) return "0";
  if (bytes % (1ull << 30) == 0) return std::to_string(bytes >> 30) + "GiB";
  if (bytes % (1ull << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
  if (bytes % (1ull << 10) == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes);
}

std::string quote(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

std::string_view closest_match(std::string_view word, std::span<const std::string_view> candidates) {
  // A third of the word may be wrong, between one and three edits.
  const std::size_t allowed = std::clamp<std::size_t>((word.size() + 2) / 3, 1, 3);
  std::string_view best;
  std::size_t best_distance = allowed + 1;
  for (std::string_view candidate : candidates) {
    const std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

bool parse_ratio(std::string_view text, double& out, std::string& error) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    error = "expected a number from 0 to 1 like 0.01";
    return false;
  }
  if (!(value >= 0.0 && value <= 1.0)) {
    error = "out of range; a ratio is from 0 to 1";
    return false;
  }
  out = value;
  return true;
}

namespace {

bool percent_decode(std::string_view text, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= text.size()) return false;
    auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (ec != std::errc() || end != text.data() + i + 3) return false;
    out += static_cast<char>(value);
    i += 2;
  }
  return true;
}

}  // namespace

bool parse_key_values(std::string_view text, bool header_names,
                      std::vector<std::pair<std::string, std::string>>& out, std::string& error) {
  std::vector<std::pair<std::string, std::string>> result;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view item = trim_ows(text.substr(0, comma));
    if (!item.empty()) {
      const std::size_t equals = item.find('=');
      const std::string_view key = equals == std::string_view::npos ? item : trim_ows(item.substr(0, equals));
      if (equals == std::string_view::npos || key.empty()) {
        error = "\"" + std::string(item) + "\" is not key=value";
        return false;
      }
      std::string value;
      if (!percent_decode(trim_ows(item.substr(equals + 1)), value)) {
        error = "\"" + std::string(item) + "\": bad %-escape in the value";
        return false;
      }
      if (header_names && (!is_token(key) || !is_valid_field_value(value))) {
        error = "\"" + std::string(key) + "\" is not a valid header name and value";
        return false;
      }
      result.emplace_back(std::string(key), std::move(value));
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  out = std::move(result);
  return true;
}

bool parse_http_url(std::string_view text, HttpUrl& out, std::string& error) {
  constexpr std::string_view kHttp = "http://", kHttps = "https://";
  const bool tls = text.starts_with(kHttps);
  if (!tls && !text.starts_with(kHttp)) {
    error = "expected a URL like http://otel-collector:4318/v1/traces or https://...";
    return false;
  }
  text.remove_prefix(tls ? kHttps.size() : kHttp.size());
  const std::size_t slash = text.find('/');
  const std::string_view authority = text.substr(0, slash);
  HttpUrl url;
  url.tls = tls;
  url.path = slash == std::string_view::npos ? "/" : std::string(text.substr(slash));
  if (url.path.find_first_of(" #\r\n\t") != std::string::npos) {
    error = "the path has a space, tab, line break or #";
    return false;
  }
  if (authority.find('@') != std::string_view::npos) {
    error = "credentials in the URL are not supported; use tracing.headers";
    return false;
  }
  const bool has_port = !authority.empty() && authority.back() != ']' && authority.rfind(':') != std::string_view::npos;
  HostPort host_port;
  std::string reason;
  if (!parse_host_port(has_port ? authority : std::string(authority) + (tls ? ":443" : ":80"), false,
                       host_port, reason)) {
    error = "host: " + reason;
    return false;
  }
  url.host = host_port.host;
  url.port = host_port.port;
  out = std::move(url);
  return true;
}

}  // namespace apimeter
