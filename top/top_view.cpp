// Layout of `apimeter top`: summary lines, then one row per route with fixed-width numeric columns and
// the route column taking what the terminal width leaves. Text from the proxy is client-controlled (routes
// learned from paths, user ids from headers), so every string is made terminal-safe before it is printed.
#include "top/top_view.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace apimeter::top {
namespace {

constexpr std::string_view kRed = "\x1b[31m", kYellow = "\x1b[33m", kBold = "\x1b[1m", kReset = "\x1b[0m";

struct Column {
  std::string_view title;
  std::size_t width;
  SortKey key;  // the sort this column shows (rps for the ones that are not a sort)
  bool sortable;
};

// Numeric columns after the route, right-aligned.
constexpr Column kColumns[] = {
    {"REQ/S", 9, SortKey::rps, true},    {"5XX", 8, SortKey::errors, true}, {"P50", 10, SortKey::rps, false},
    {"P95", 10, SortKey::p95, true},     {"P99", 10, SortKey::rps, false},  {"IN/S", 12, SortKey::bytes, true},
    {"OUT/S", 12, SortKey::bytes, true}, {"REQUESTS", 10, SortKey::rps, false},
};
constexpr std::size_t kMinRouteWidth = 16;

// Printable ASCII only: control bytes could drive the terminal, and bytes >= 0x80 need not be UTF-8.
std::string terminal_safe(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return out;
}

std::string fit(std::string text, std::size_t width) {
  if (width == 0) return text;
  if (text.size() > width) {
    text.resize(width > 1 ? width - 1 : width);
    if (width > 1) text += '~';
  }
  return text;
}

std::string paint(std::string text, std::string_view colour, bool enabled) {
  if (!enabled || colour.empty()) return text;
  return std::string(colour) + text + std::string(kReset);
}

std::string_view error_colour(double ratio) { return !std::isnan(ratio) && ratio >= 0.01 ? kRed : ""; }
std::string_view latency_colour(double s) { return std::isnan(s) ? "" : s >= 2 ? kRed : s >= 0.5 ? kYellow : ""; }

std::string duration_text(double seconds) {
  if (std::isnan(seconds)) return "-";
  const auto s = static_cast<long long>(seconds);
  if (s >= 86400) return fmt::format("{}d {}h", s / 86400, s / 3600 % 24);
  if (s >= 3600) return fmt::format("{}h {}m", s / 3600, s / 60 % 60);
  if (s >= 60) return fmt::format("{}m {}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

// Descending order of a figure with NaN (no requests) last.
bool heavier(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return !std::isnan(a) && std::isnan(b);
  return a > b;
}

}  // namespace

std::string format_rate(double v) {
  if (std::isnan(v)) return "-";
  return v >= 100 ? fmt::format("{:.0f}", v) : v >= 10 ? fmt::format("{:.1f}", v) : fmt::format("{:.2f}", v);
}

std::string format_ratio(double v) {
  if (std::isnan(v)) return "-";
  const int digits = v != 0 && v < 0.001 ? 3 : v < 0.1 ? 2 : 1;
  return fmt::format("{:.{}f}%", 100 * v, digits);
}

std::string format_seconds(double v) {
  if (std::isnan(v)) return "-";
  if (v < 0.001) return fmt::format("{:.0f} us", v * 1e6);
  if (v < 1) return fmt::format("{:.{}f} ms", v * 1e3, v < 0.01 ? 2 : 1);
  return fmt::format("{:.2f} s", v);
}

std::string format_bytes(double v) {
  if (std::isnan(v)) return "-";
  static constexpr std::string_view kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{:.0f} B", v);
  return fmt::format("{:.{}f} {}", v, v >= 100 ? 0 : 1, kUnits[unit]);
}

std::vector<const RouteFigures*> sorted_routes(const StatsDocument& doc, SortKey key) {
  std::vector<const RouteFigures*> rows;
  rows.reserve(doc.routes.size());
  for (const auto& r : doc.routes) rows.push_back(&r);
  auto figure = [key](const RouteFigures& r) {
    switch (key) {
      case SortKey::errors: return r.live.error_ratio;
      case SortKey::p95: return r.live.p95;
      case SortKey::bytes: return r.live.received_rate + r.live.sent_rate;
      case SortKey::rps: break;
    }
    return r.live.rate;
  };
  std::sort(rows.begin(), rows.end(), [&](const RouteFigures* a, const RouteFigures* b) {
    const double x = figure(*a), y = figure(*b);
    if (heavier(x, y)) return true;
    if (heavier(y, x)) return false;
    return a->route < b->route;
  });
  return rows;
}

std::string render_view(const StatsDocument& doc, const ViewOptions& o) {
  std::string out;
  auto line = [&](std::string text) {
    out += text;
    out += '\n';
  };
  auto cut = [&](std::string text) { return fit(std::move(text), o.width); };
  const LiveFigures& all = doc.all;

  line(paint(cut(fmt::format("apimeter top - {} at {} - up {} - figures over the last {}", terminal_safe(doc.service),
                             o.admin, duration_text(doc.uptime_seconds), duration_text(doc.window_seconds))),
             kBold, o.color));
  line(cut(fmt::format("req/s {}  5xx {}  p50 {}  p95 {}  p99 {}  in {}/s  out {}/s", format_rate(all.rate),
                       format_ratio(all.error_ratio), format_seconds(all.p50), format_seconds(all.p95),
                       format_seconds(all.p99), format_bytes(all.received_rate), format_bytes(all.sent_rate))));
  std::uint64_t connect_errors = 0;
  for (const auto& e : doc.endpoints) connect_errors += e.connect_errors;
  line(cut(fmt::format("active {}  connections {}{}  upstream pool {} active {} idle  connect errors {}  series {}/{}{}",
                       doc.active_requests, doc.connections,
                       doc.connection_limit ? fmt::format("/{}", doc.connection_limit) : std::string(), doc.pool_active,
                       doc.pool_idle, connect_errors, doc.series, doc.series_limit,
                       doc.series_dropped ? fmt::format(" ({} dropped)", doc.series_dropped) : std::string())));
  if (!doc.users.empty()) {
    std::string users = "top users:";
    for (std::size_t i = 0; i < doc.users.size() && i < 5; ++i)
      users += fmt::format("{} {} {}/s", i ? "," : "", terminal_safe(doc.users[i].user), format_rate(doc.users[i].rate));
    line(cut(users));
  }
  if (o.height) {
    std::string keys = "sort:";
    for (const auto& k : kSortKeys) keys += fmt::format(" {}{} ({})", k.key == o.sort ? "*" : "", k.name, k.press);
    line(cut(keys + "  q quits"));
  }
  if (!o.notice.empty()) line(paint(cut(o.notice), kRed, o.color));
  line("");

  std::size_t numbers = 0;
  for (const auto& c : kColumns) numbers += c.width;
  // Without a width every route shows whole; on a terminal the route column takes what the numbers leave.
  std::size_t route_width = kMinRouteWidth;
  for (const auto& r : doc.routes) route_width = std::max(route_width, r.route.size() + 2);
  if (o.width) route_width = o.width > numbers + kMinRouteWidth ? o.width - numbers : kMinRouteWidth;

  std::string header = fmt::format("{:<{}}", "ROUTE", route_width);
  for (const auto& c : kColumns) {
    std::string title = std::string(c.title) + (c.sortable && c.key == o.sort ? "*" : "");
    header += fmt::format("{:>{}}", title, c.width);
  }
  line(paint(cut(header), kBold, o.color));

  const auto rows = sorted_routes(doc, o.sort);
  std::size_t room = rows.size();
  if (o.height) {
    // Lines so far, the row count, and one line for "N more".
    const std::size_t used = static_cast<std::size_t>(std::count(out.begin(), out.end(), '\n'));
    room = o.height > used + 1 ? o.height - used - 1 : 0;
    if (rows.size() <= room + 1) room = rows.size();
  }
  if (rows.empty()) line("(no traffic yet: requests through the proxy show here)");
  for (std::size_t i = 0; i < rows.size() && i < room; ++i) {
    const RouteFigures& r = *rows[i];
    auto cell = [](const std::string& text, std::size_t width) { return fmt::format("{:>{}}", text, width); };
    std::string row = fmt::format("{:<{}}", fit(terminal_safe(r.route), route_width - 1), route_width);
    row += cell(format_rate(r.live.rate), kColumns[0].width);
    row += paint(cell(format_ratio(r.live.error_ratio), kColumns[1].width), error_colour(r.live.error_ratio), o.color);
    row += cell(format_seconds(r.live.p50), kColumns[2].width);
    row += paint(cell(format_seconds(r.live.p95), kColumns[3].width), latency_colour(r.live.p95), o.color);
    row += paint(cell(format_seconds(r.live.p99), kColumns[4].width), latency_colour(r.live.p99), o.color);
    row += cell(format_bytes(r.live.received_rate), kColumns[5].width);
    row += cell(format_bytes(r.live.sent_rate), kColumns[6].width);
    row += cell(std::to_string(r.requests), kColumns[7].width);
    line(row);
  }
  if (room < rows.size()) line(fmt::format("... {} more routes (a taller terminal shows them)", rows.size() - room));
  return out;
}

}  // namespace apimeter::top
