// apimeter top's /stats parser: a version-2 document into the view's structs; anything else an error line.
#include "top/stats_document.hpp"

#include <cmath>
#include <gtest/gtest.h>

namespace apimeter::top {
namespace {

constexpr std::string_view kDocument = R"({"version":2,"service":"shop","uptime_seconds":75,"window_seconds":60,
  "requests_total":120,"errors_5xx_total":3,"active_requests":2,"client_connections_active":5,
  "client_connections_limit":10000,"upstream_connections":{"idle":4,"active":1},
  "upstream_endpoints":[{"endpoint":"10.0.0.7:3000","upstream":"shop:3000","attempts_total":120,"connections_opened_total":5,"connect_errors_total":2}],
  "series":{"active":40,"limit":50000,"dropped_total":0},
  "last_minute":{"rate":2,"error_ratio":0.025,"received_bytes_rate":300,"sent_bytes_rate":9000,"p50_seconds":0.01,"p95_seconds":0.2,"p99_seconds":0.9},
  "routes":[{"route":"/api/orders/{id}","requests_total":100,"errors_5xx_total":3,"rate":1.5,"error_ratio":0.03,
             "received_bytes_rate":200,"sent_bytes_rate":8000,"p50_seconds":0.01,"p95_seconds":0.25,"p99_seconds":1.1},
            {"route":"/api/health","requests_total":20,"errors_5xx_total":0,"rate":0,"error_ratio":null,
             "received_bytes_rate":0,"sent_bytes_rate":0,"p50_seconds":null,"p95_seconds":null,"p99_seconds":null}],
  "users":{"distinct_last_minute":2,"top":[{"user":"alice","requests_total":90,"rate":1.2,"active_requests":1,"listed":true},
                                           {"user":"old","requests_total":3,"rate":0,"active_requests":0,"listed":false}]}})";

TEST(StatsDocument, ReadsEveryFigureTheViewShows) {
  StatsDocument doc;
  std::string error;
  ASSERT_TRUE(parse_stats_document(kDocument, doc, error)) << error;
  EXPECT_EQ(doc.service, "shop");
  EXPECT_EQ(doc.requests, 120u);
  EXPECT_EQ(doc.connection_limit, 10000u);
  EXPECT_EQ(doc.pool_idle, 4u);
  EXPECT_EQ(doc.series_limit, 50000u);
  EXPECT_DOUBLE_EQ(doc.all.p95, 0.2);
  ASSERT_EQ(doc.routes.size(), 2u);
  EXPECT_EQ(doc.routes[0].route, "/api/orders/{id}");
  EXPECT_DOUBLE_EQ(doc.routes[0].live.sent_rate, 8000);
  EXPECT_TRUE(std::isnan(doc.routes[1].live.p95));  // null: no requests in the window
  ASSERT_EQ(doc.users.size(), 1u);                   // only the listed ones
  EXPECT_EQ(doc.users[0].user, "alice");
  ASSERT_EQ(doc.endpoints.size(), 1u);
  EXPECT_EQ(doc.endpoints[0].connect_errors, 2u);
}

TEST(StatsDocument, RefusesWhatIsNotAVersion2Document) {
  StatsDocument doc;
  std::string error;
  EXPECT_FALSE(parse_stats_document("<html>", doc, error));
  EXPECT_EQ(error, "the answer is not JSON");
  EXPECT_FALSE(parse_stats_document(R"({"routes":[]})", doc, error));
  EXPECT_EQ(error, "/stats has no version 2; this apimeter top reads version 2");
  EXPECT_FALSE(parse_stats_document(R"({"version":3,"routes":[]})", doc, error));
  EXPECT_EQ(error, "/stats version 3; this apimeter top reads version 2");
  EXPECT_FALSE(parse_stats_document(R"([1,2])", doc, error));
  EXPECT_EQ(error, "the answer is not a /stats document");
  EXPECT_FALSE(parse_stats_document(R"({"version":2,"routes":[)", doc, error));
}

TEST(StatsDocument, FieldsOfTheWrongTypeReadAsMissing) {
  StatsDocument doc;
  std::string error;
  ASSERT_TRUE(parse_stats_document(
      R"({"version":2,"service":7,"requests_total":-4,"series":[],"routes":[{"route":1,"rate":"fast"},3],"users":{"top":{}}})",
      doc, error)) << error;
  EXPECT_EQ(doc.service, "");
  EXPECT_EQ(doc.requests, 0u);
  ASSERT_EQ(doc.routes.size(), 1u);
  EXPECT_EQ(doc.routes[0].route, "");
  EXPECT_TRUE(std::isnan(doc.routes[0].live.rate));
}

TEST(StatsDocument, DeepNestingIsAnErrorNotACrash) {
  StatsDocument doc;
  std::string error;
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_FALSE(parse_stats_document(deep, doc, error));
  EXPECT_EQ(error, "the answer is not a /stats document");
}

}  // namespace
}  // namespace apimeter::top
