// metrics.enabled=false: traffic is still proxied, nothing about it is recorded, and /metrics still serves
// the process and build families (valid for promtool when it is installed).
#include <unistd.h>

#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

TEST(MetricsDisabledTest, RequestsAreProxiedButNotRecordedAndProcessMetricsRemain) {
  std::string config = write_temp_file("apimeter.yaml",
                                       "service: shop\n"
                                       "metrics:\n"
                                       "  enabled: false\n"
                                       "user_identity:\n"
                                       "  source: header\n"
                                       "routes:\n"
                                       "  - name: status\n"
                                       "    template: /status/{code}\n");
  Stack stack = start_stack({"--config", config, "--access-log", "off"});
  for (int i = 0; i < 3; ++i) {
    HttpResponse response = round_trip(stack.port(), get_request("/bytes/100", "X-User-Id: alice\r\n"));
    EXPECT_EQ(response.status, 200) << response.error;
    EXPECT_EQ(response.body, demo_pattern(100));
  }
  EXPECT_EQ(round_trip(stack.port(), body_request("POST", "/status/503", "abc")).status, 503);
  EXPECT_EQ(round_trip(stack.port(), get_request("/status/200", "", "PURGE")).status, 200);

  HttpResponse response = http_get(stack.proxy.admin_port, "/metrics");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  MetricsText metrics = parse_metrics_text(response.body);
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;

  // Request families: absent or zero, whatever the engine chooses; never a count of the traffic above.
  for (std::string_view name :
       {"http_server_request_duration_seconds_count", "http_server_request_duration_seconds_bucket",
        "apimeter_received_bytes_total", "apimeter_sent_bytes_total",
        "http_client_request_duration_seconds_count", "http_server_request_body_size_bytes_count",
        "http_server_response_body_size_bytes_count", "apimeter_user_requests_total",
        "apimeter_proxy_overhead_seconds_count"}) {
    EXPECT_EQ(metrics.sum(name), 0) << name << "\n" << response.body;
  }
  EXPECT_TRUE(metrics.label_values("http_server_request_duration_seconds_count", "http_route").empty());
  EXPECT_EQ(response.body.find("alice"), std::string::npos);

  // Process and build metrics are still there.
  EXPECT_GT(metrics.value("process_resident_memory_bytes").value_or(0), 0) << response.body;
  EXPECT_GE(metrics.value("process_cpu_seconds_total").value_or(-1), 0);
  EXPECT_GT(metrics.value("process_open_fds").value_or(0), 0);
  EXPECT_GT(metrics.value("process_start_time_seconds").value_or(0), 1.6e9);
  EXPECT_EQ(metrics.sum("apimeter_build_info"), 1);
  EXPECT_EQ(metrics.select("apimeter_build_info").size(), 1u);
  EXPECT_TRUE(metrics.value("apimeter_config_reloads_total", {{"result", "success"}}).has_value());

  if (::access("/usr/bin/promtool", X_OK) == 0) {
    std::string file = write_temp_file("metrics.txt", response.body);
    RunResult check =
        run_to_completion("/bin/sh", {"-c", "exec /usr/bin/promtool check metrics < \"$0\"", file}, 60s);
    EXPECT_EQ(check.exit_code, 0) << check.out_text() << check.err_text();
  }
}

}  // namespace
}  // namespace apimeter::test
