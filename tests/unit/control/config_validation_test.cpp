// The whole-config checks: a config with no upstream, contradicting limits, colliding addresses, routes
// that can never match because an earlier one takes all their requests, and configs built in code.
#include "control/config_loader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_support.hpp"

namespace apimeter {
namespace {

using namespace std::chrono_literals;
using namespace testing_config;
using ::testing::HasSubstr;

// Shadowing: `earlier` and `later` are YAML route bodies; the later one must be reported or not.
std::vector<std::string> shadow_problems(const std::string& earlier, const std::string& later) {
  return problems_of(std::string(kValidBase) + "routes:\n  - name: first\n    " + earlier +
                     "\n  - name: second\n    " + later + "\n");
}

constexpr const char* kShadowed =
    "test.yaml:5:5: route \"second\" can never match: route \"first\" (line 3) matches every request it "
    "would";

TEST(ConfigValidate, TemplateShadowedByEarlierPrefixCanNeverMatch) {
  EXPECT_THAT(shadow_problems("prefix: /api/", "template: /api/orders/{id}"),
              ::testing::ElementsAre(kShadowed));
  EXPECT_THAT(shadow_problems("prefix: /api", "template: /api/{x}"), ::testing::ElementsAre(kShadowed));
  EXPECT_THAT(shadow_problems("prefix: /", "template: /{x}"), ::testing::ElementsAre(kShadowed));
  EXPECT_THAT(shadow_problems("prefix: /api/orders/", "template: /api/{x}/1"), ::testing::IsEmpty());
  // "/a/" as a template also matches "/a", which the prefix "/a/" does not.
  EXPECT_THAT(shadow_problems("prefix: /a/", "template: /a/"), ::testing::IsEmpty());
}

TEST(ConfigValidate, ExactOrPrefixShadowedByEarlierPrefixCanNeverMatch) {
  EXPECT_THAT(shadow_problems("prefix: /static/", "exact: /static/app.js"),
              ::testing::ElementsAre(kShadowed));
  EXPECT_THAT(shadow_problems("prefix: /static/", "prefix: /static/img/"), ::testing::ElementsAre(kShadowed));
  EXPECT_THAT(shadow_problems("prefix: /static/img/", "prefix: /static/"), ::testing::IsEmpty());
  EXPECT_THAT(shadow_problems("prefix: /static/", "exact: /static"), ::testing::IsEmpty());
}

TEST(ConfigValidate, EqualExactPathsCanNeverMatch) {
  EXPECT_THAT(shadow_problems("exact: /a", "exact: /a"), ::testing::ElementsAre(kShadowed));
  EXPECT_THAT(shadow_problems("exact: /a", "exact: /a/"), ::testing::IsEmpty());
  EXPECT_THAT(shadow_problems("exact: /a", "template: /a"), ::testing::IsEmpty());
}

TEST(ConfigValidate, ExactPathShadowedByEarlierTemplateCanNeverMatch) {
  EXPECT_THAT(shadow_problems("template: /api/orders/{id}", "exact: /api/orders/latest"),
              ::testing::ElementsAre(kShadowed));
  EXPECT_THAT(shadow_problems("template: /u/{x}/", "exact: /u/1"), ::testing::ElementsAre(kShadowed));
  EXPECT_THAT(shadow_problems("template: /api/orders/{id}", "exact: /api/orders"), ::testing::IsEmpty());
}

TEST(ConfigValidate, TemplatesOfTheSameShapeCanNeverMatch) {
  EXPECT_THAT(shadow_problems("template: /api/orders/{id}", "template: /api/orders/{order_id}"),
              ::testing::ElementsAre(kShadowed));
  EXPECT_THAT(shadow_problems("template: /{a}/{b}", "template: /api/{id}"),
              ::testing::ElementsAre(kShadowed));
  EXPECT_THAT(shadow_problems("template: /api/{id}", "template: /{a}/{b}"), ::testing::IsEmpty());
  EXPECT_THAT(shadow_problems("template: /api/{id}", "template: /api/{id}/"), ::testing::IsEmpty());
}

TEST(ConfigValidate, ShadowingNeedsTheEarlierMethodsToIncludeTheLater) {
  const auto shadowed =
      ::testing::ElementsAre(HasSubstr("route \"second\" can never match: route \"first\""));
  EXPECT_THAT(shadow_problems("exact: /a\n    methods: [GET, POST]", "exact: /a\n    methods: [POST]"),
              shadowed);
  EXPECT_THAT(shadow_problems("exact: /a", "exact: /a\n    methods: [POST]"), shadowed);
  EXPECT_THAT(shadow_problems("exact: /a\n    methods: [GET]", "exact: /a\n    methods: [POST]"),
              ::testing::IsEmpty());
  EXPECT_THAT(shadow_problems("exact: /a\n    methods: [GET]", "exact: /a"), ::testing::IsEmpty());
}

TEST(ConfigValidate, ConfigWithNoUpstreamIsReported) {
  const std::vector<std::string> all = problems_of("workers: 1\n");
  EXPECT_THAT(
      all, ::testing::ElementsAre(
               "test.yaml: no upstream: set upstreams in the config file, --upstream or APIMETER_UPSTREAM"));
  // An upstream that was given but is invalid is reported once, not again as "no upstream".
  EXPECT_EQ(problems_of("upstreams: nope\n").size(), 1u);
}

TEST(ConfigValidate, ContradictingLimitsAreReported) {
  EXPECT_EQ(
      only_problem(std::string(kValidBase) +
                   "limits:\n  max_uri_bytes: 32KiB\n  max_request_header_bytes: 16KiB\n"),
      "test.yaml:3:18: limits contradict: max_uri_bytes (32KiB) is larger than max_request_header_bytes "
      "(16KiB), which includes the request line");
  EXPECT_THAT(only_problem(std::string(kValidBase) + "limits:\n  max_request_headers: 0\n"),
              HasSubstr("3:24: limits.max_request_headers is 0"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "limits:\n  max_response_header_bytes: 0\n"),
              HasSubstr("is 0"));
}

TEST(ConfigValidate, ListenAndAdminOnTheSamePortAreReported) {
  EXPECT_THAT(only_problem(std::string(kValidBase) + "listen: 0.0.0.0:9000\nadmin: 127.0.0.1:9000\n"),
              HasSubstr("3:8: listen and admin both bind 127.0.0.1:9000"));
  EXPECT_TRUE(problems_of(std::string(kValidBase) + "listen: 0.0.0.0:0\nadmin: 0.0.0.0:0\n").empty());
  EXPECT_TRUE(
      problems_of(std::string(kValidBase) + "listen: 10.0.0.1:9000\nadmin: 127.0.0.1:9000\n").empty());
}

TEST(ConfigValidate, UpstreamThatIsOurOwnListenerIsReported) {
  EXPECT_THAT(only_problem("upstreams: [127.0.0.1:8080]\n"),
              HasSubstr("upstream 127.0.0.1:8080 is this proxy's own listen address 0.0.0.0:8080"));
  EXPECT_TRUE(problems_of("upstreams: [127.0.0.1:8081]\n").empty());
}

TEST(ConfigValidate, RejectingUnmatchedWithNoRoutesIsReported) {
  EXPECT_THAT(only_problem(std::string(kValidBase) + "unmatched_routes: reject\n"),
              HasSubstr("2:19: unmatched_routes is reject but there are no routes"));
}

TEST(ConfigValidate, EmptyServiceIsReported) {
  EXPECT_THAT(only_problem(std::string(kValidBase) + "service: \"\"\n"),
              HasSubstr("service must not be empty"));
}

TEST(ConfigValidate, ChecksMetricsBuiltInCode) {
  Config config;
  config.upstreams.push_back(HostPort{"a", 1});
  config.metrics.duration_buckets = {1, 0.5};
  config.metrics.size_buckets = {};
  ExtraLabelConfig label;
  label.name = "le";
  label.key = "X Tier";
  label.values = {"a", "a"};
  label.max_values = 3;
  config.metrics.extra_labels = {label};
  RouteConfig route;
  route.name = "r";
  route.pattern = "/";
  route.duration_buckets = {0, 1};
  config.routes.push_back(route);
  std::vector<std::string> all;
  for (const Diagnostic& d : validate_config(config)) all.push_back(format_diagnostic(d));
  EXPECT_THAT(
      all, ::testing::ElementsAre(
               "metrics.duration_buckets: bucket #2 is not greater than the one before it; buckets must be "
               "strictly increasing",
               "metrics.size_buckets: no buckets",
               HasSubstr("extra label \"le\": label name \"le\" is one apimeter sets itself"),
               HasSubstr("extra label \"le\": header name \"X Tier\" is not an HTTP token"),
               "extra label \"le\": needs exactly one of values (an allow-list) and max_values (a first-come "
               "cap)",
               "extra label \"le\": value \"a\" is listed twice",
               "route \"r\": buckets: bucket #1 must be more than 0"));
  config = Config{};
  config.upstreams.push_back(HostPort{"a", 1});
  label = ExtraLabelConfig{};
  label.name = "tier";
  label.source = ExtraLabelSource::query;
  label.key = "tier";
  label.max_values = 500;
  config.metrics.extra_labels = {label};
  for (const Diagnostic& d : validate_config(config)) all.push_back(format_diagnostic(d));
  EXPECT_THAT(all.back(), HasSubstr("extra label \"tier\": max_values must be 1-100"));
}

TEST(ConfigValidate, ChecksRoutesBuiltInCode) {
  Config config;
  config.upstreams.push_back(HostPort{"a", 1});
  RouteConfig bad;
  bad.name = "bad";
  bad.match = RouteMatch::path_template;
  bad.pattern = "/a/{id";
  bad.methods = {"get"};
  config.routes.push_back(bad);
  RouteConfig nameless;
  nameless.pattern = "/b";
  config.routes.push_back(nameless);
  std::vector<std::string> all;
  for (const Diagnostic& d : validate_config(config)) all.push_back(format_diagnostic(d));
  EXPECT_THAT(all, ::testing::ElementsAre(HasSubstr("route \"bad\": invalid template"),
                                          HasSubstr("route \"bad\": method \"get\" must be upper case"),
                                          HasSubstr("route #2: route name is empty")));
}

TEST(ConfigValidate, ShadowMessageOmitsLineWhenUnknown) {
  Config config;
  config.upstreams.push_back(HostPort{"a", 1});
  config.routes.resize(2);
  config.routes[0].name = "x";
  config.routes[0].pattern = "/";
  config.routes[1].name = "y";
  config.routes[1].pattern = "/z";
  const std::vector<Diagnostic> problems = validate_config(config);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(format_diagnostic(problems[0]),
            "route \"y\" can never match: route \"x\" matches every request it would");
}

TEST(ConfigValidate, AZeroTimeoutFloorIsRefused) {
  Config config;
  config.upstreams.push_back(HostPort{"a", 1});
  config.timeouts.client_header_floor = Duration{0};
  config.timeouts.client_idle_floor = Duration{0};
  std::vector<std::string> all;
  for (const Diagnostic& d : validate_config(config)) all.push_back(format_diagnostic(d));
  ASSERT_EQ(all.size(), 2u) << ::testing::PrintToString(all);
  EXPECT_THAT(all[0], HasSubstr("timeouts.client_header_floor is 0"));
  EXPECT_THAT(all[1], HasSubstr("timeouts.client_idle_floor is 0"));
}

TEST(ConfigValidate, TlsSettingsThatOnlyWorkTogether) {
  const std::string base = std::string(kValidBase);
  EXPECT_THAT(only_problem(base + "tls:\n  cert_file: server.pem\n"),
              HasSubstr("tls.cert_file and tls.key_file go together"));
  EXPECT_THAT(only_problem(base + "tls:\n  key_file: server.key\n"),
              HasSubstr("tls.cert_file and tls.key_file go together"));
  EXPECT_THAT(only_problem(base + "tls:\n  client_ca_file: ca.pem\n"),
              HasSubstr("client certificates need a TLS listener"));
  EXPECT_THAT(only_problem(base + "tls:\n  cert_file: s.pem\n  key_file: s.key\n  ciphers: \"\"\n"),
              HasSubstr("tls.ciphers is empty"));
  EXPECT_THAT(
      only_problem(
          base +
          "tls:\n  cert_file: s.pem\n  key_file: s.key\nuser_identity:\n  source: client_certificate\n"),
      HasSubstr("tls.client_ca_file is not set"));
  EXPECT_THAT(only_problem(base + "tls:\n  min_version: \"1.1\"\n"), HasSubstr("use 1.2 or 1.3"));
  EXPECT_THAT(problems_of(base + "tls:\n  cert_file: s.pem\n  key_file: s.key\n  client_ca_file: ca.pem\n"
                                 "  client_certificate: optional\n  min_version: \"1.3\"\n"
                                 "user_identity:\n  source: client_certificate\n"),
              ::testing::IsEmpty());
}

TEST(ConfigValidate, UpstreamTlsSettingsThatOnlyWorkTogether) {
  const std::string base = std::string(kValidBase);
  EXPECT_THAT(only_problem(base + "upstream_tls:\n  enabled: true\n  cert_file: client.pem\n"),
              HasSubstr("upstream_tls.cert_file and upstream_tls.key_file go together"));
  // Settings of a TLS client nobody turned on: the upstreams would silently stay cleartext.
  EXPECT_THAT(only_problem(base + "upstream_tls:\n  ca_file: ca.pem\n"),
              HasSubstr("upstream_tls.ca_file is set but upstream_tls.enabled is false"));
  EXPECT_THAT(only_problem(base + "upstream_tls:\n  server_name: api.internal\n"),
              HasSubstr("upstream_tls.server_name is set but upstream_tls.enabled is false"));
  EXPECT_THAT(only_problem(base + "upstream_tls:\n  enabled: true\n  min_version: \"1.0\"\n"),
              HasSubstr("use 1.2 or 1.3"));
  EXPECT_THAT(only_problem(base + "upstream_tls:\n  enabled: true\n  ca_file: ca.pem\n  verify: false\n"),
              HasSubstr("upstream_tls.ca_file is set but upstream_tls.verify is false"));
  EXPECT_THAT(problems_of(base + "upstream_tls:\n  enabled: true\n  ca_file: ca.pem\n"
                                 "  server_name: api.internal\n  cert_file: c.pem\n  key_file: c.key\n"
                                 "  min_version: \"1.3\"\n"),
              ::testing::IsEmpty());
}

}  // namespace
}  // namespace apimeter
