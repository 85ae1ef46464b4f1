// What `apimeter top` prints: the routes of one /stats document as a table sorted by the chosen key, with
// a summary above, fitted to a terminal (live view) or whole (a plain table for scripts). Pure: text in,
// text out, so the layout is unit-tested without a terminal.
#pragma once

#include <string>
#include <vector>

#include "top/sort_key.hpp"
#include "top/stats_document.hpp"

namespace apimeter::top {

struct ViewOptions {
  SortKey sort = SortKey::rps;
  bool color = false;      // ANSI colour: the sorted column, 5xx over 1 %, p95 over 2 s
  std::size_t width = 0;   // columns to fit; 0 = no limit (the route column is never cut then)
  std::size_t height = 0;  // lines to fit; 0 = every route
  std::string admin;       // shown in the summary: "127.0.0.1:9901"
  std::string notice;      // a line under the summary, e.g. an error while the last figures stay shown
};

// Routes in display order for `key`, heaviest first; ties by route name.
std::vector<const RouteFigures*> sorted_routes(const StatsDocument& doc, SortKey key);

// The whole screen (live view) or the whole table (height 0), each line ending in '\n'.
std::string render_view(const StatsDocument& doc, const ViewOptions& options);

// Number formats shared by the view's cells: "12.3", "0.50%", "2.1 ms", "1.5 KiB"; "-" for NaN.
std::string format_rate(double per_second);
std::string format_ratio(double ratio);
std::string format_seconds(double seconds);
std::string format_bytes(double bytes);

}  // namespace apimeter::top
