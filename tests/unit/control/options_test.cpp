// The settings table: rows write their fields and reject bad values, and the table's own invariants
// (unique names, one level of YAML nesting, render/assign round trip, defaults from limits.hpp).
#include "control/options.hpp"

#include <gtest/gtest.h>

#include <set>

namespace apimeter {
namespace {

using namespace std::chrono_literals;

std::string assign_error(std::string_view flag, std::string_view text) {
  const OptionRow* option = find_option_by_flag(flag);
  EXPECT_NE(option, nullptr) << flag;
  if (option == nullptr) return "";
  Config config;
  std::string error;
  EXPECT_FALSE(option->assign(config, text, error)) << flag << "=" << text;
  return error;
}

Config assigned(std::string_view flag, std::string_view text) {
  const OptionRow* option = find_option_by_flag(flag);
  EXPECT_NE(option, nullptr) << flag;
  Config config;
  std::string error;
  if (option != nullptr) {
    EXPECT_TRUE(option->assign(config, text, error)) << flag << "=" << text << ": " << error;
  }
  return config;
}

TEST(OptionCount, RejectsValuesTooLargeForTheField) {
  EXPECT_EQ(assigned("workers", "4").workers, 4u);
  EXPECT_NE(assign_error("workers", "4294967296").find("too large"), std::string::npos);
}

TEST(OptionHostPort, PortZeroOnlyWhereAllowed) {
  HostPort out;
  std::string error;
  EXPECT_TRUE(parse_host_port("127.0.0.1:0", true, out, error));
  EXPECT_FALSE(parse_host_port("127.0.0.1:0", false, out, error));
  EXPECT_NE(error.find("1-65535"), std::string::npos);
  EXPECT_EQ(assigned("listen", "127.0.0.1:0").listen.port, 0);
  EXPECT_EQ(assigned("admin", "127.0.0.1:0").admin.port, 0);
  EXPECT_FALSE(assign_error("upstream", "127.0.0.1:0").empty());
}

TEST(OptionEnums, AccessLogIsStdoutOffOrAPath) {
  EXPECT_EQ(assigned("access-log", "stdout").access_log, AccessLogMode::stdout_);
  EXPECT_EQ(assigned("access-log", "off").access_log, AccessLogMode::off);
  const Config file = assigned("access-log", "/var/log/apimeter.log");
  EXPECT_EQ(file.access_log, AccessLogMode::file);
  EXPECT_EQ(file.access_log_path, "/var/log/apimeter.log");
  EXPECT_EQ(find_option_by_flag("access-log")->render(file), "/var/log/apimeter.log");
  EXPECT_NE(assign_error("access-log", "stderr").find("./stderr"), std::string::npos);
  EXPECT_FALSE(assign_error("access-log", "false").empty());
  EXPECT_FALSE(assign_error("access-log", "").empty());
}

TEST(OptionEnums, UnmatchedRoutesIsForwardOrReject) {
  EXPECT_EQ(assigned("unmatched-routes", "forward").unmatched_routes, UnmatchedRoutes::forward);
  EXPECT_EQ(assigned("unmatched-routes", "reject").unmatched_routes, UnmatchedRoutes::reject);
  EXPECT_FALSE(assign_error("unmatched-routes", "drop").empty());
  EXPECT_FALSE(assign_error("unmatched-routes", "Reject").empty());
}

TEST(OptionTable, WritesTheNamedNestedField) {
  EXPECT_EQ(assigned("client-header-timeout", "3s").timeouts.client_header, 3s);
  EXPECT_EQ(assigned("max-uri-bytes", "4KiB").limits.max_uri_bytes, 4096u);
  EXPECT_EQ(assigned("max-request-body-bytes", "1GiB").limits.max_request_body_bytes, 1ull << 30);
  EXPECT_EQ(assigned("pool-idle-timeout", "1m").pool.idle_timeout, 60s);
  EXPECT_EQ(assigned("drain-delay", "0").drain_delay, 0s);
  EXPECT_EQ(assigned("trust-forwarded-headers", "true").trust_forwarded_headers, true);
  EXPECT_EQ(assigned("service", "shop").service, "shop");
  EXPECT_EQ(assigned("upstream", "a:1,b:2").upstreams.size(), 2u);
}

TEST(OptionTable, BadValueLeavesTheFieldAlone) {
  const OptionRow* option = find_option_by_flag("client-header-timeout");
  Config config;
  std::string error;
  ASSERT_FALSE(option->assign(config, "soon", error));
  EXPECT_EQ(config.timeouts.client_header, defaults::kClientHeaderTimeout);
}

TEST(OptionTable, NamesAreUniqueAndYamlNestsOneLevel) {
  std::set<std::string_view> flags, paths;
  for (const OptionRow& option : option_table()) {
    EXPECT_TRUE(flags.insert(option.flag).second) << option.flag;
    EXPECT_FALSE(option.help.empty()) << option.flag;
    if (option.yaml_path.empty()) continue;
    EXPECT_TRUE(paths.insert(option.yaml_path).second) << option.yaml_path;
    EXPECT_LE(std::count(option.yaml_path.begin(), option.yaml_path.end(), '.'), 1) << option.yaml_path;
  }
  EXPECT_EQ(flags.size(), 76u);  // config plus the 75 settings of the file
}

TEST(OptionTable, EveryRowRendersItsDefaultInASpellingItAccepts) {
  const Config defaults_config;
  for (const OptionRow& option : option_table()) {
    Config config = defaults_config;
    const std::string shown = option.render(defaults_config);
    if (shown.empty()) continue;  // empty list or path: nothing to read back
    std::string error;
    ASSERT_TRUE(option.assign(config, shown, error)) << option.flag << "=" << shown << ": " << error;
    EXPECT_EQ(option.render(config), shown) << option.flag;
  }
}

TEST(OptionTable, DefaultsComeFromTheLimitsHeader) {
  const Config config;
  EXPECT_EQ(find_option_by_flag("client-header-timeout")->render(config),
            format_duration(defaults::kClientHeaderTimeout));
  EXPECT_EQ(find_option_by_flag("max-request-header-bytes")->render(config),
            format_size(defaults::kMaxRequestHeaderBytes));
  EXPECT_EQ(find_option_by_flag("drain-timeout")->render(config), format_duration(defaults::kDrainTimeout));
}

TEST(OptionTable, EnvironmentNameIsUpperSnakeOfTheFlag) {
  EXPECT_EQ(find_option_by_flag("client-header-timeout")->env_name(), "APIMETER_CLIENT_HEADER_TIMEOUT");
  EXPECT_EQ(find_option_by_env("APIMETER_CLIENT_HEADER_TIMEOUT"),
            find_option_by_flag("client-header-timeout"));
  EXPECT_EQ(find_option_by_env("APIMETER_LISTEN")->yaml_path, "listen");
  EXPECT_EQ(find_option_by_env("APIMETER_client_header_timeout"), nullptr);
  EXPECT_EQ(find_option_by_env("LISTEN"), nullptr);
  for (const OptionRow& option : option_table()) EXPECT_EQ(find_option_by_env(option.env_name()), &option);
}

TEST(OptionTable, LooksUpByYamlPath) {
  EXPECT_EQ(find_option_by_yaml("timeouts.client_header"), find_option_by_flag("client-header-timeout"));
  EXPECT_EQ(find_option_by_yaml("upstreams"), find_option_by_flag("upstream"));
  EXPECT_EQ(find_option_by_yaml(""), nullptr);  // config is flag and environment only
  EXPECT_EQ(find_option_by_yaml("timeouts"), nullptr);
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST(OptionMetrics, RowsWriteTheMetricsFields) {
  EXPECT_FALSE(assigned("metrics-enabled", "false").metrics.enabled);
  EXPECT_EQ(assigned("metrics-route-label", "name").metrics.route_label, RouteLabel::name);
  EXPECT_EQ(assigned("metrics-route-label", "template").metrics.route_label, RouteLabel::path_template);
  EXPECT_EQ(assigned("metrics-duration-buckets", "0.1,1").metrics.duration_buckets,
            (std::vector<double>{0.1, 1}));
  EXPECT_EQ(assigned("metrics-size-buckets", "1KiB").metrics.size_buckets,
            (std::vector<std::uint64_t>{1024}));
  EXPECT_EQ(assigned("metrics-learned-templates", "50").metrics.learned_templates, 50u);
  EXPECT_EQ(assigned("metrics-top-users", "0").metrics.top_users, 0u);
  EXPECT_TRUE(assigned("metrics-hash-user-ids", "true").metrics.hash_user_ids);
  EXPECT_EQ(assigned("metrics-max-series", "1000").metrics.max_series, 1000u);
  EXPECT_EQ(find_option_by_yaml("metrics.top_users"), find_option_by_flag("metrics-top-users"));
  EXPECT_EQ(find_option_by_env("APIMETER_METRICS_ENABLED"), find_option_by_flag("metrics-enabled"));
}

TEST(OptionMetrics, BadSpellingsAreRejected) {
  EXPECT_EQ(assign_error("metrics-route-label", "Template"), "use template or name (did you mean template?)");
  EXPECT_EQ(assign_error("metrics-route-label", "path"), "use template or name");
  EXPECT_EQ(assign_error("metrics-enabled", "off"), "use true or false");
  EXPECT_EQ(assign_error("metrics-hash-user-ids", "yes"), "use true or false");
  EXPECT_TRUE(contains(assign_error("metrics-top-users", "-1"), "negative"));
  EXPECT_TRUE(contains(assign_error("metrics-max-series", "50k"), "whole number"));
  EXPECT_TRUE(contains(assign_error("metrics-learned-templates", "many"), "whole number"));
  EXPECT_TRUE(contains(assign_error("metrics-duration-buckets", "1,0.5"), "strictly increasing"));
}

TEST(OptionMetrics, DefaultsComeFromTheLimitsHeader) {
  const Config config;
  EXPECT_EQ(find_option_by_flag("metrics-duration-buckets")->render(config),
            "0.005,0.01,0.025,0.05,0.075,0.1,0.25,0.5,0.75,1,2.5,5,7.5,10");
  EXPECT_EQ(find_option_by_flag("metrics-size-buckets")->render(config),
            "64,256,1KiB,4KiB,16KiB,64KiB,256KiB,1MiB,4MiB,16MiB,64MiB");
  EXPECT_EQ(config.metrics.duration_buckets.size(), std::size(defaults::kMetricsDurationBuckets));
  EXPECT_EQ(config.metrics.learned_templates, defaults::kMetricsLearnedTemplates);
  EXPECT_EQ(config.metrics.top_users, 20u);
  EXPECT_EQ(config.metrics.max_series, 50000u);
  EXPECT_TRUE(config.metrics.enabled);
  EXPECT_FALSE(config.metrics.hash_user_ids);
  EXPECT_EQ(config.metrics.route_label, RouteLabel::path_template);
  EXPECT_TRUE(config.metrics.extra_labels.empty());
  EXPECT_EQ(config.user_identity.source, IdentitySource::none);
  EXPECT_EQ(find_option_by_flag("user-identity-source")->render(config), "none");
}

TEST(OptionUserIdentity, SourceTakesEachSpellingAndSuggestsNearOnes) {
  struct Case {
    const char* text;
    IdentitySource source;
  };
  for (const Case& c :
       {Case{"none", IdentitySource::none}, Case{"header", IdentitySource::header},
        Case{"jwt_claim", IdentitySource::jwt_claim}, Case{"api_key", IdentitySource::api_key},
        Case{"cookie", IdentitySource::cookie}, Case{"client_address", IdentitySource::client_address}}) {
    const Config config = assigned("user-identity-source", c.text);
    EXPECT_EQ(config.user_identity.source, c.source) << c.text;
    EXPECT_EQ(find_option_by_flag("user-identity-source")->render(config), c.text);
  }
  EXPECT_EQ(assign_error("user-identity-source", "apikey"),
            "use none, header, jwt_claim, api_key, cookie, client_address or client_certificate (did you "
            "mean api_key?)");
  EXPECT_TRUE(contains(assign_error("user-identity-source", "jwt-claim"), "did you mean jwt_claim?"));
  EXPECT_TRUE(contains(assign_error("user-identity-source", "ip"), "use none, header"));
  EXPECT_FALSE(contains(assign_error("user-identity-source", "ip"), "did you mean"));
  EXPECT_EQ(assigned("user-identity-name", "X-Customer").user_identity.name, "X-Customer");
}

TEST(OptionUserIdentity, EmptyNameMeansTheSourcesDefault) {
  UserIdentityConfig identity;
  EXPECT_EQ(identity.effective_name(), "");
  identity.source = IdentitySource::header;
  EXPECT_EQ(identity.effective_name(), "X-User-Id");
  identity.source = IdentitySource::api_key;
  EXPECT_EQ(identity.effective_name(), "X-Api-Key");
  identity.source = IdentitySource::jwt_claim;
  EXPECT_EQ(identity.effective_name(), "sub");
  identity.source = IdentitySource::cookie;
  EXPECT_EQ(identity.effective_name(), "");
  identity.name = "session_user";
  EXPECT_EQ(identity.effective_name(), "session_user");
  identity.source = IdentitySource::client_address;
  EXPECT_EQ(identity.effective_name(), "");
}

TEST(OptionTable, BucketRowsRenderInTheirShortestSpelling) {
  EXPECT_EQ(
      find_option_by_flag("metrics-duration-buckets")->render(assigned("metrics-duration-buckets", "5ms,1s")),
      "0.005,1");
  EXPECT_EQ(
      find_option_by_flag("metrics-size-buckets")->render(assigned("metrics-size-buckets", "1024,4MiB")),
      "1KiB,4MiB");
}

}  // namespace
}  // namespace apimeter
