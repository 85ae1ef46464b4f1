// /metrics content negotiation and rendering.
#include "metrics/metrics_endpoint.hpp"

#include <gtest/gtest.h>

#include <zlib.h>

#include "metrics_test_support.hpp"

namespace apimeter::metrics {
namespace {

TEST(MetricsEndpoint, OpenMetricsOnlyWhenTheScraperAsksForIt) {
  // What Prometheus 2.x sends by default.
  EXPECT_EQ(negotiate_format("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                             "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
            ExpositionFormat::openmetrics);
  EXPECT_EQ(negotiate_format("application/openmetrics-text; version=1.0.0; charset=utf-8"), ExpositionFormat::openmetrics);
  EXPECT_EQ(negotiate_format(""), ExpositionFormat::text);
  EXPECT_EQ(negotiate_format("*/*"), ExpositionFormat::text);
  EXPECT_EQ(negotiate_format("text/plain;version=0.0.4"), ExpositionFormat::text);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0"), ExpositionFormat::text);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;version=2.0.0"), ExpositionFormat::text);
  EXPECT_EQ(negotiate_format("text/plain;q=1,application/openmetrics-text;q=0.5"), ExpositionFormat::text);
}

TEST(MetricsEndpoint, GzipWhenAccepted) {
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("deflate, GZIP;q=0.5"));
  EXPECT_TRUE(accepts_gzip("*"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("br, deflate"));
  EXPECT_FALSE(accepts_gzip(""));
}

TEST(MetricsEndpoint, RendersTheNegotiatedFormat) {
  testing::FakeClock clock;
  auto settings = std::make_shared<MetricsSettings>();
  settings->service = "shop";
  MetricsRegistry registry(1, {"1.0", "r"}, settings, clock.clock());
  registry.worker(0).record(testing::Exchange("GET", "/a/1"));
  RenderedMetrics text = render_metrics(registry, "text/plain", "");
  EXPECT_EQ(text.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_FALSE(text.gzipped);
  EXPECT_NE(text.body.find("# TYPE http_server_request_duration_seconds histogram"), std::string::npos);
  RenderedMetrics om = render_metrics(registry, "application/openmetrics-text;version=1.0.0", "gzip");
  EXPECT_EQ(om.content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
  ASSERT_TRUE(om.gzipped);
  std::string plain(1 << 20, '\0');
  uLongf size = plain.size();
  z_stream zs{};
  ASSERT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(om.body.data());
  zs.avail_in = static_cast<uInt>(om.body.size());
  zs.next_out = reinterpret_cast<Bytef*>(plain.data());
  zs.avail_out = static_cast<uInt>(size);
  ASSERT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  plain.resize(zs.total_out);
  inflateEnd(&zs);
  EXPECT_TRUE(plain.ends_with("# EOF\n"));
}

}  // namespace
}  // namespace apimeter::metrics
