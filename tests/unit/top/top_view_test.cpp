// apimeter top's layout: sort orders, number formats, fitting to a terminal, colour only when asked, and
// client-controlled text made harmless for a terminal.
#include "top/top_view.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <limits>
#include <sstream>

namespace apimeter::top {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

RouteFigures route(std::string name, double rate, double errors, double p95, double bytes) {
  RouteFigures r;
  r.route = std::move(name);
  r.requests = static_cast<std::uint64_t>(rate * 60);
  r.live = {rate, errors, bytes / 2, bytes / 2, p95 / 2, p95, p95 * 2};
  return r;
}

StatsDocument sample() {
  StatsDocument doc;
  doc.service = "shop";
  doc.window_seconds = 60;
  doc.uptime_seconds = 3725;
  doc.routes = {route("/api/products", 50, 0, 0.010, 1e6), route("/api/orders/{id}", 5, 0.2, 2.5, 1e3),
                route("/api/search", 20, 0.001, 0.300, 5e6), route("/api/idle", 0, kNaN, kNaN, 0)};
  doc.all = {75, 0.02, 1e6, 5e6, 0.005, 0.3, 2.6};
  doc.users = {{"alice", 900, 15, 1}, {"bob", 60, 1, 0}};
  return doc;
}

std::vector<std::string> names(const std::vector<const RouteFigures*>& rows) {
  std::vector<std::string> out;
  for (const auto* r : rows) out.push_back(r->route);
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(TopView, EachSortKeyPutsTheHeaviestFirstAndRoutesWithoutRequestsLast) {
  const StatsDocument doc = sample();
  EXPECT_THAT(names(sorted_routes(doc, SortKey::rps)),
              ::testing::ElementsAre("/api/products", "/api/search", "/api/orders/{id}", "/api/idle"));
  EXPECT_THAT(names(sorted_routes(doc, SortKey::errors)),
              ::testing::ElementsAre("/api/orders/{id}", "/api/search", "/api/products", "/api/idle"));
  EXPECT_THAT(names(sorted_routes(doc, SortKey::p95)),
              ::testing::ElementsAre("/api/orders/{id}", "/api/search", "/api/products", "/api/idle"));
  EXPECT_THAT(names(sorted_routes(doc, SortKey::bytes)),
              ::testing::ElementsAre("/api/search", "/api/products", "/api/orders/{id}", "/api/idle"));
}

TEST(TopView, NumbersReadLikeThePage) {
  EXPECT_EQ(format_rate(1234.4), "1234");
  EXPECT_EQ(format_rate(12.34), "12.3");
  EXPECT_EQ(format_rate(0.5), "0.50");
  EXPECT_EQ(format_ratio(0.2), "20.0%");
  EXPECT_EQ(format_ratio(0.0125), "1.25%");
  EXPECT_EQ(format_ratio(0.00001), "0.001%");
  EXPECT_EQ(format_ratio(kNaN), "-");
  EXPECT_EQ(format_seconds(0.0004), "400 us");
  EXPECT_EQ(format_seconds(0.0042), "4.20 ms");
  EXPECT_EQ(format_seconds(0.25), "250.0 ms");
  EXPECT_EQ(format_seconds(2.5), "2.50 s");
  EXPECT_EQ(format_bytes(900), "900 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(200.0 * 1024 * 1024), "200 MiB");
}

TEST(TopView, PlainTableShowsEveryRouteWholeWithTheSortMarked) {
  StatsDocument doc = sample();
  doc.routes.push_back(route("/api/a/very/long/route/{id}/that/does/not/fit/in/sixteen", 1, 0, 0.1, 10));
  ViewOptions o;
  o.sort = SortKey::p95;
  o.admin = "127.0.0.1:9901";
  const std::string text = render_view(doc, o);
  EXPECT_THAT(text, HasSubstr("apimeter top - shop at 127.0.0.1:9901 - up 1h 2m - figures over the last 1m 0s\n"));
  EXPECT_THAT(text, HasSubstr("req/s 75.0  5xx 2.00%  p50 5.00 ms  p95 300.0 ms  p99 2.60 s"));
  EXPECT_THAT(text, HasSubstr("top users: alice 15.0/s, bob 1.00/s"));
  EXPECT_THAT(text, HasSubstr("P95*"));
  EXPECT_THAT(text, HasSubstr("/api/a/very/long/route/{id}/that/does/not/fit/in/sixteen "));
  EXPECT_THAT(text, Not(HasSubstr("q quits")));  // no keys without a terminal
  EXPECT_THAT(text, Not(HasSubstr("\x1b")));     // no colour unless asked
  const auto rows = lines(text);
  const auto header = std::find_if(rows.begin(), rows.end(), [](const std::string& l) { return l.starts_with("ROUTE"); });
  ASSERT_NE(header, rows.end());
  ASSERT_EQ(rows.end() - header, 6);  // header and five routes
  EXPECT_TRUE(header[1].starts_with("/api/orders/{id} ")) << header[1];
  EXPECT_THAT(header[1], HasSubstr("20.0%"));
  EXPECT_THAT(header[5], HasSubstr("-"));  // the idle route has no latency
}

TEST(TopView, LiveViewFitsTheTerminalAndSaysHowManyRoutesAreCut) {
  StatsDocument doc = sample();
  for (int i = 0; i < 50; ++i) doc.routes.push_back(route("/r/" + std::to_string(i), 1, 0, 0.01, 10));
  ViewOptions o;
  o.width = 100;
  o.height = 20;
  const auto rows = lines(render_view(doc, o));
  EXPECT_EQ(rows.size(), 20u);
  for (const auto& l : rows) EXPECT_LE(l.size(), 100u) << l;
  EXPECT_EQ(rows.back(), "... 42 more routes (a taller terminal shows them)");
  EXPECT_THAT(rows[4], HasSubstr("sort: *rps (r) errors (e) p95 (p) bytes (b)  q quits"));
}

TEST(TopView, ColourMarksErrorsAndSlowRoutesOnlyWhenAsked) {
  ViewOptions o;
  o.color = true;
  const std::string text = render_view(sample(), o);
  EXPECT_THAT(text, HasSubstr("\x1b[31m   20.0%\x1b[0m"));  // 5xx over 1 %
  EXPECT_THAT(text, HasSubstr("\x1b[31m    2.50 s\x1b[0m"));  // p95 over 2 s
  EXPECT_THAT(text, HasSubstr("  300.0 ms\x1b[33m  600.0 ms\x1b[0m"));  // p95 300 ms plain, p99 600 ms yellow
}

TEST(TopView, ClientControlledTextCannotDriveTheTerminal) {
  StatsDocument doc = sample();
  doc.routes.push_back(route("/x\x1b[2J\x07\xff", 100, 0, 0.01, 10));
  doc.users = {{"eve\x1b]0;owned\x07", 10, 1, 0}};
  const std::string text = render_view(doc, ViewOptions{});
  EXPECT_THAT(text, Not(HasSubstr("\x1b")));
  EXPECT_THAT(text, Not(HasSubstr("\x07")));
  EXPECT_THAT(text, HasSubstr("/x?[2J??"));
  EXPECT_THAT(text, HasSubstr("eve?]0;owned?"));
}

TEST(TopView, SaysWhenThereIsNoTrafficYet) {
  StatsDocument doc;
  doc.service = "shop";
  EXPECT_THAT(render_view(doc, ViewOptions{}), HasSubstr("(no traffic yet: requests through the proxy show here)"));
}

}  // namespace
}  // namespace apimeter::top
