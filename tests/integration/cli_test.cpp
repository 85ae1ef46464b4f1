// The command line: --version, --help, `check` (exit 0, or FILE:LINE:COL diagnostics and exit 2),
// `healthcheck` against a live, draining or absent admin listener, and configurations that refuse to start.
#include <signal.h>

#include <regex>

#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

RunResult run_apimeter(std::vector<std::string> args) { return run_to_completion(apimeter_bin(), std::move(args), 10s); }

// An upstream address for proxies that never forward a request in the test.
std::string idle_upstream() { return "127.0.0.1:" + std::to_string(unused_port()); }

TEST(CliTest, VersionPrintsTheVersionAndExits0) {
  RunResult result = run_apimeter({"--version"});
  EXPECT_EQ(result.exit_code, 0) << result.err_text();
  ASSERT_EQ(result.out.size(), 1u) << result.out_text();
  EXPECT_TRUE(std::regex_match(result.out[0], std::regex(R"(apimeter \d+\.\d+\.\d+.*)"))) << result.out[0];
}

TEST(CliTest, HelpListsEveryFlagAndExits0) {
  RunResult result = run_apimeter({"--help"});
  EXPECT_EQ(result.exit_code, 0) << result.err_text();
  std::string help = result.out_text();
  for (std::string_view flag :
       {"--config", "--listen", "--admin", "--upstream ", "--workers", "--max-request-header-bytes",
        "--max-request-headers", "--max-uri-bytes", "--max-request-body-bytes", "--client-header-timeout",
        "--client-idle-timeout", "--client-body-timeout", "--upstream-connect-timeout", "--upstream-response-timeout",
        "--upstream-body-timeout", "--request-timeout", "--tunnel-idle-timeout", "--drain-delay", "--drain-timeout",
        "--access-log", "--unmatched-routes", "check", "healthcheck"})
    EXPECT_NE(help.find(flag), std::string::npos) << flag << " is missing from --help";
}

TEST(CliTest, CheckAcceptsAValidConfigAndExits0) {
  std::string config = write_temp_file("good.yaml",
                                       "upstreams: 127.0.0.1:3000\n"
                                       "timeouts:\n"
                                       "  upstream_response: 2s\n"
                                       "routes:\n"
                                       "  - name: product\n"
                                       "    template: /api/products/{id}\n"
                                       "    methods: [GET]\n");
  RunResult result = run_apimeter({"check", "--config", config});
  EXPECT_EQ(result.exit_code, 0) << result.err_text();
  EXPECT_EQ(result.out_text(), config + ": ok\n");
  EXPECT_TRUE(result.err.empty()) << result.err_text();
}

TEST(CliTest, CheckAcceptsTheShippedExampleConfigs) {
  for (std::string name : {"conf/apimeter.yaml", "conf/apimeter-minimal.yaml"}) {
    RunResult result = run_apimeter({"check", "--config", source_dir() + "/" + name});
    EXPECT_EQ(result.exit_code, 0) << name << ":\n" << result.err_text();
  }
}

TEST(CliTest, CheckReportsEachProblemWithFileLineAndColumnAndExits2) {
  std::string config = write_temp_file("bad.yaml",
                                       "upstreams: 127.0.0.1:3000\n"
                                       "timeouts:\n"
                                       "  upstream_response: fast\n"
                                       "routes:\n"
                                       "  - name: a\n"
                                       "    exact: nope\n"
                                       "bogus: 1\n");
  RunResult result = run_apimeter({"check", "--config", config});
  EXPECT_EQ(result.exit_code, 2);
  std::string err = result.err_text();
  EXPECT_NE(err.find(config + ":3:22: "), std::string::npos) << err;
  EXPECT_NE(err.find(config + ":6:12: "), std::string::npos) << err;
  EXPECT_NE(err.find(config + ":7:1: "), std::string::npos) << err;
  // Every line names its place: FILE:LINE:COL: message.
  std::regex shape("^" + std::regex_replace(config, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                   R"(:\d+:\d+: .+$)");
  for (const auto& line : result.err) EXPECT_TRUE(std::regex_match(line, shape)) << line;
  EXPECT_EQ(result.err.size(), 3u) << err;
}

TEST(CliTest, CheckReportsAYamlSyntaxErrorAndExits2) {
  std::string config = write_temp_file("broken.yaml", "upstreams: 127.0.0.1:3000\nroutes: [\n");
  RunResult result = run_apimeter({"check", "--config", config});
  EXPECT_EQ(result.exit_code, 2);
  ASSERT_FALSE(result.err.empty());
  EXPECT_TRUE(result.err[0].starts_with(config + ":")) << result.err_text();
}

TEST(CliTest, InvalidConfigRefusesToStartWithExit2) {
  std::string config = write_temp_file("bad.yaml", "upstreams: 127.0.0.1:3000\ntimeouts:\n  upstream_response: fast\n");
  RunResult result = run_apimeter({"--config", config, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err_text().find(config + ":3:22: "), std::string::npos) << result.err_text();
  EXPECT_EQ(result.err_text().find("\"listening\""), std::string::npos) << result.err_text();
}

TEST(CliTest, MissingUpstreamRefusesToStartWithExit2) {
  RunResult result = run_apimeter({"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err_text().find("upstream"), std::string::npos) << result.err_text();
}

TEST(CliTest, UnknownFlagRefusesToStartWithExit2) {
  RunResult result = run_apimeter({"--upstream", idle_upstream(), "--upstream-timeout", "1s"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err_text().find("--upstream-timeout"), std::string::npos) << result.err_text();
}

TEST(CliTest, InvalidFlagValueRefusesToStartWithExit2) {
  RunResult result = run_apimeter({"--upstream", idle_upstream(), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                               "--client-header-timeout", "ten"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err_text().find("--client-header-timeout"), std::string::npos) << result.err_text();
}

TEST(CliTest, ListenAddressInUseRefusesToStartWithExit2) {
  RawListener taken;
  RunResult result = run_apimeter({"--upstream", idle_upstream(), "--listen", "127.0.0.1:" + std::to_string(taken.port()),
                               "--admin", "127.0.0.1:0"});
  EXPECT_EQ(result.exit_code, 2) << result.err_text();
  EXPECT_EQ(result.err_text().find("\"listening\""), std::string::npos) << result.err_text();
}

TEST(CliTest, EnvironmentVariablesConfigureTheProxy) {
  DemoUpstream upstream = start_demo_upstream();
  Apimeter proxy = start_apimeter({}, {"APIMETER_UPSTREAM=" + upstream.address(), "APIMETER_MAX_URI_BYTES=1KiB"});
  EXPECT_EQ(round_trip(proxy.port, get_request("/bytes/3")).status, 200);
  EXPECT_EQ(round_trip(proxy.port, get_request("/bytes/3?" + std::string(1100, 'q'))).status, 414);
}

TEST(CliTest, HealthcheckExits0WhenTheProxyIsReady) {
  Apimeter proxy = start_apimeter({"--upstream", idle_upstream()});
  RunResult result = run_apimeter({"healthcheck", "--admin", "127.0.0.1:" + std::to_string(proxy.admin_port)});
  EXPECT_EQ(result.exit_code, 0) << result.err_text();
}

TEST(CliTest, HealthcheckFailsWhenNothingListens) {
  RunResult result = run_apimeter({"healthcheck", "--admin", "127.0.0.1:" + std::to_string(unused_port()), "--timeout",
                               "1s"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_FALSE(result.err.empty());
}

TEST(CliTest, HealthcheckFailsWhileTheProxyDrains) {
  Apimeter proxy = start_apimeter({"--upstream", idle_upstream(), "--drain-delay", "5s"});
  proxy.proc().send_signal(SIGTERM);
  ASSERT_TRUE(poll_until([&] { return admin_status(proxy.admin_port, "/readyz") == 503; }, 2s));
  RunResult result = run_apimeter({"healthcheck", "--admin", "127.0.0.1:" + std::to_string(proxy.admin_port)});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err_text().find("503"), std::string::npos) << result.err_text();
}

}  // namespace
}  // namespace apimeter::test
