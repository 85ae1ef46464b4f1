// Loading YAML: every kind of diagnostic with its position, each route's and extra label's own checks,
// diagnostics formatting, and the example files in conf/ (loaded and validated as startup does).
#include "control/config_loader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "control/options.hpp"
#include "config_test_support.hpp"

#ifndef APIMETER_SOURCE_DIR
#error "tests/unit/CMakeLists.txt defines APIMETER_SOURCE_DIR"
#endif

namespace apimeter {
namespace {

using namespace std::chrono_literals;
using namespace testing_config;
using ::testing::HasSubstr;

TEST(ConfigLoader, LoadsEveryKindOfSetting) {
  const LoadResult result = load(R"(
service: shop
listen: "[::]:8081"
admin: 127.0.0.1:0
upstreams: [a:1, b:2]
workers: 3
limits:
  max_request_header_bytes: 32KiB
  max_request_body_bytes: 1MiB
timeouts:
  client_header: 5s
  request: 0
pool:
  max_idle: 8
drain:
  delay: 250ms
access_log: /tmp/access.log
trust_forwarded_headers: true
unmatched_routes: reject
routes:
  - name: order
    template: /api/orders/{id}
    methods: [GET, PUT]
    request_timeout: 30s
    upstream_response_timeout: 10s
)");
  ASSERT_TRUE(result.ok()) << format_diagnostic(result.problems.front());
  const Config& c = result.config;
  EXPECT_EQ(c.service, "shop");
  EXPECT_EQ(c.listen.to_string(), "[::]:8081");
  EXPECT_EQ(c.admin.port, 0);
  ASSERT_EQ(c.upstreams.size(), 2u);
  EXPECT_EQ(c.upstreams[1].to_string(), "b:2");
  EXPECT_EQ(c.workers, 3u);
  EXPECT_EQ(c.limits.max_request_header_bytes, 32u * 1024);
  EXPECT_EQ(c.limits.max_request_body_bytes, 1u << 20);
  EXPECT_EQ(c.limits.max_uri_bytes, defaults::kMaxUriBytes);
  EXPECT_EQ(c.timeouts.client_header, 5s);
  EXPECT_EQ(c.timeouts.request, 0s);
  EXPECT_EQ(c.pool.max_idle, 8u);
  EXPECT_EQ(c.drain_delay, 250ms);
  EXPECT_EQ(c.drain_timeout, defaults::kDrainTimeout);
  EXPECT_EQ(c.access_log, AccessLogMode::file);
  EXPECT_EQ(c.access_log_path, "/tmp/access.log");
  EXPECT_TRUE(c.trust_forwarded_headers);
  EXPECT_EQ(c.unmatched_routes, UnmatchedRoutes::reject);
  ASSERT_EQ(c.routes.size(), 1u);
  const RouteConfig& r = c.routes[0];
  EXPECT_EQ(r.name, "order");
  EXPECT_EQ(r.match, RouteMatch::path_template);
  EXPECT_EQ(r.pattern, "/api/orders/{id}");
  EXPECT_THAT(r.methods, ::testing::ElementsAre("GET", "PUT"));
  EXPECT_EQ(r.request_timeout, 30s);
  EXPECT_EQ(r.upstream_response_timeout, 10s);
  EXPECT_EQ(r.where.file, "test.yaml");
  EXPECT_EQ(r.where.line, 21);
  EXPECT_EQ(r.where.column, 5);
  EXPECT_TRUE(validate_config(c, result.origins).empty());
}

TEST(ConfigLoader, UpstreamsMayBeASingleString) {
  const LoadResult result = load("upstreams: shop:3000\n");
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result.config.upstreams.size(), 1u);
  EXPECT_EQ(result.config.upstreams[0].host, "shop");
}

TEST(ConfigLoader, EmptyDocumentIsAllDefaults) {
  const LoadResult result = load("# nothing here\n");
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.config.listen.to_string(), "0.0.0.0:8080");
  EXPECT_TRUE(result.config.routes.empty());
}

TEST(ConfigLoader, UnknownKeyIsReportedWithLineAndColumn) {
  EXPECT_EQ(only_problem(std::string(kValidBase) + "listn: 0.0.0.0:8080\n"),
            "test.yaml:2:1: unknown key \"listn\"; did you mean \"listen\"?");
  EXPECT_EQ(only_problem(std::string(kValidBase) + "timeouts:\n  client_headr: 5s\n"),
            "test.yaml:3:3: unknown key \"client_headr\" in timeouts; did you mean \"client_header\"?");
}

TEST(ConfigLoader, UnknownKeyThatExistsElsewhereSuggestsItsFullPath) {
  EXPECT_THAT(only_problem(std::string(kValidBase) + "client_header: 5s\n"),
              HasSubstr("did you mean \"timeouts.client_header\"?"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "max-uri-bytes: 4KiB\n"),
              HasSubstr("did you mean \"limits.max_uri_bytes\"?"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "bogus: 1\n"),
              ::testing::EndsWith("unknown key \"bogus\""));
}

TEST(ConfigLoader, BadValuesNameTheKeyTheTextAndTheReason) {
  EXPECT_EQ(only_problem(std::string(kValidBase) + "timeouts:\n  request: 10\n"),
            "test.yaml:3:12: timeouts.request: invalid value \"10\": missing unit: use ms, s, m or h (only 0 "
            "may be written without one)");
  EXPECT_THAT(only_problem(std::string(kValidBase) + "limits:\n  max_uri_bytes: 4k\n"),
              HasSubstr("test.yaml:3:18: limits.max_uri_bytes: invalid value \"4k\": unknown unit"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "workers: -2\n"),
              HasSubstr("2:10: workers: invalid value"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "trust_forwarded_headers: yes\n"),
              HasSubstr("use true or false"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "listen: 8080\n"), HasSubstr("missing :PORT"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "admin: localhost:70000\n"), HasSubstr("port must be"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "access_log: stderr\n"), HasSubstr("use stdout, off"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "unmatched_routes: drop\n"),
              HasSubstr("forward or reject"));
}

TEST(ConfigLoader, EveryProblemIsReportedNotJustTheFirst) {
  const std::vector<std::string> all = problems_of(R"(upstreams: [a:1]
listn: x
timeouts:
  request: soon
  client_idle: 5
limits:
  max_uri_bytes: lots
routes:
  - name: a
    exact: nope
  - name: b
    prefix: /b/
)");
  ASSERT_EQ(all.size(), 5u) << ::testing::PrintToString(all);
  EXPECT_THAT(all[0], HasSubstr(":2:1:"));
  EXPECT_THAT(all[1], HasSubstr(":4:12:"));
  EXPECT_THAT(all[2], HasSubstr(":5:16:"));
  EXPECT_THAT(all[3], HasSubstr(":7:18:"));
  EXPECT_THAT(all[4], HasSubstr(":10:12: route \"a\": invalid exact \"nope\": must start with /"));
}

TEST(ConfigLoader, WrongTypesAreReported) {
  EXPECT_EQ(only_problem(std::string(kValidBase) + "listen: {host: x}\n"),
            "test.yaml:2:9: listen must be a host:port like 0.0.0.0:8080; got a map");
  EXPECT_THAT(only_problem(std::string(kValidBase) + "timeouts: 10s\n"),
              HasSubstr("2:11: timeouts must be a map of client_header, client_idle"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "service: [a, b]\n"), HasSubstr("got a list"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "workers:\n"),
              HasSubstr("workers must be a whole number; got nothing"));
  EXPECT_THAT(only_problem("upstreams: [[a:1]]\n"), HasSubstr("1:13: upstreams: each item must be"));
  EXPECT_THAT(only_problem("upstreams: []\n"), HasSubstr("empty list"));
  EXPECT_THAT(only_problem("- a\n- b\n"), HasSubstr("1:1: the top level must be a map"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "routes: /api\n"), HasSubstr("routes must be a list"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "routes:\n  - /api\n"),
              HasSubstr("route #1 must be a map"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "? [a]\n: b\n"), HasSubstr("keys must be plain names"));
}

TEST(ConfigLoader, BadItemInUpstreamListIsPointedAtExactly) {
  const std::vector<std::string> all = problems_of("upstreams:\n  - a:1\n  - b\n  - c:0\n");
  ASSERT_EQ(all.size(), 2u) << ::testing::PrintToString(all);
  EXPECT_EQ(all[0], "test.yaml:3:5: upstreams: invalid value \"b\": missing :PORT");
  EXPECT_EQ(all[1], "test.yaml:4:5: upstreams: invalid value \"c:0\": port must be 1-65535");
}

TEST(ConfigLoader, DuplicateKeyIsReported) {
  EXPECT_EQ(only_problem(std::string(kValidBase) + "workers: 1\nworkers: 2\n"),
            "test.yaml:3:1: duplicate key \"workers\" (first at line 2)");
}

TEST(ConfigLoader, SyntaxErrorHasYamlCppPosition) {
  const LoadResult result = load("upstreams: [a:1\nworkers: 2\n");
  EXPECT_FALSE(result.parsed);
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0].where.line, 2);
  EXPECT_GT(result.problems[0].where.column, 0);
  EXPECT_THAT(result.problems[0].message, HasSubstr("YAML syntax error"));
  const LoadResult tabs = load("limits:\n\tmax_uri_bytes: 1\n");
  EXPECT_FALSE(tabs.ok());
}

TEST(ConfigLoader, SecondDocumentIsReported) {
  EXPECT_THAT(only_problem(std::string(kValidBase) + "---\nworkers: 2\n"),
              HasSubstr("only one YAML document"));
}

TEST(ConfigLoader, UnreadableFileIsOneProblem) {
  const LoadResult missing = load_config_file("/nonexistent/apimeter.yaml");
  EXPECT_FALSE(missing.parsed);
  ASSERT_EQ(missing.problems.size(), 1u);
  EXPECT_EQ(format_diagnostic(missing.problems[0]),
            "/nonexistent/apimeter.yaml: cannot read: No such file or directory");
  const LoadResult directory = load_config_file(APIMETER_SOURCE_DIR "/conf");
  ASSERT_EQ(directory.problems.size(), 1u);
  EXPECT_THAT(directory.problems[0].message, HasSubstr("is a directory"));
}

TEST(ConfigLoader, FileLoadRemembersItsPath) {
  const std::string path = ::testing::TempDir() + "/apimeter_loader_test.yaml";
  std::ofstream(path) << "upstreams: a:1\nworkers: nine\n";
  const LoadResult result = load_config_file(path);
  EXPECT_EQ(result.config.config_path, path);
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0].where.file, path);
  EXPECT_EQ(result.problems[0].where.line, 2);
}

TEST(ConfigLoader, RouteNeedsExactlyOneOfTemplateExactPrefix) {
  EXPECT_EQ(only_problem(std::string(kValidBase) + "routes:\n  - name: a\n    methods: [GET]\n"),
            "test.yaml:3:5: route \"a\" needs one of template, exact or prefix");
  EXPECT_EQ(only_problem(std::string(kValidBase) + "routes:\n  - name: a\n    exact: /a\n    prefix: /a\n"),
            "test.yaml:5:5: route \"a\" has both exact and prefix; use exactly one");
}

TEST(ConfigLoader, RouteNameIsRequiredAndRestricted) {
  EXPECT_THAT(only_problem(std::string(kValidBase) + "routes:\n  - exact: /a\n"),
              HasSubstr("3:5: route #1 has no name"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "routes:\n  - name: a b\n    exact: /a\n"),
              HasSubstr("3:11: route name \"a b\" may only contain"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "routes:\n  - name: \"\"\n    exact: /a\n"),
              HasSubstr("route name is empty"));
}

TEST(ConfigLoader, RouteMethodsMustBeUpperCaseTokensListedOnce) {
  EXPECT_THAT(
      only_problem(std::string(kValidBase) + "routes:\n  - name: a\n    exact: /a\n    methods: [get]\n"),
      HasSubstr("5:15: route \"a\": method \"get\" must be upper case"));
  EXPECT_THAT(
      only_problem(std::string(kValidBase) + "routes:\n  - name: a\n    exact: /a\n    methods: [\"G T\"]\n"),
      HasSubstr("not an HTTP token"));
  EXPECT_THAT(only_problem(std::string(kValidBase) +
                           "routes:\n  - name: a\n    exact: /a\n    methods: [GET, GET]\n"),
              HasSubstr("method GET is listed twice"));
  EXPECT_THAT(
      only_problem(std::string(kValidBase) + "routes:\n  - name: a\n    exact: /a\n    methods: []\n"),
      HasSubstr("omit methods for all"));
  const LoadResult single =
      load(std::string(kValidBase) + "routes:\n  - name: a\n    exact: /a\n    methods: POST\n");
  ASSERT_TRUE(single.ok());
  EXPECT_THAT(single.config.routes[0].methods, ::testing::ElementsAre("POST"));
}

TEST(ConfigLoader, RouteUnknownKeyListsTheKnownOnes) {
  EXPECT_THAT(
      only_problem(std::string(kValidBase) + "routes:\n  - name: a\n    exact: /a\n    timeout: 5s\n"),
      HasSubstr("5:5: route \"a\": unknown key \"timeout\"; a route has name, template"));
  EXPECT_THAT(
      only_problem(std::string(kValidBase) + "routes:\n  - name: a\n    exact: /a\n    methds: [GET]\n"),
      HasSubstr("did you mean \"methods\"?"));
}

TEST(ConfigLoader, RouteTimeoutsAreDurations) {
  EXPECT_THAT(
      only_problem(std::string(kValidBase) + "routes:\n  - name: a\n    exact: /a\n    request_timeout: 5\n"),
      HasSubstr("5:22: route \"a\": request_timeout: invalid value \"5\": missing unit"));
}

TEST(ConfigLoader, InvalidTemplateIsReportedAtItsValue) {
  EXPECT_EQ(
      only_problem(std::string(kValidBase) + "routes:\n  - name: a\n    template: /a/{id}.json\n"),
      "test.yaml:4:15: route \"a\": invalid template \"/a/{id}.json\": a variable must be a whole segment, "
      "like /{id}/, not \"{id}.json\"");
  EXPECT_THAT(only_problem(std::string(kValidBase) + "routes:\n  - name: a\n    prefix: static/\n"),
              HasSubstr("invalid prefix \"static/\": must start with /"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "routes:\n  - name: a\n    exact: /a/{b}\n"),
              HasSubstr("invalid exact"));
}

TEST(ConfigLoader, DuplicateRouteNameIsReported) {
  EXPECT_THAT(problems_of(std::string(kValidBase) +
                          "routes:\n  - name: a\n    exact: /a\n  - name: a\n    exact: /b\n"),
              ::testing::ElementsAre("test.yaml:5:5: duplicate route name \"a\", first used (line 3)"));
}

TEST(ConfigLoader, LoadsMetricsAndUserIdentitySettings) {
  const LoadResult result = load(std::string(kValidBase) + R"(
metrics:
  enabled: false
  route_label: name
  duration_buckets: [0.01, 100ms, 1, 5s]
  size_buckets: [0, 1KiB, 1MiB]
  learned_templates: 10
  top_users: 0
  hash_user_ids: true
  max_series: 1000
  extra_labels:
    - name: request_type
      query: type
      values: [search, browse]
    - name: client
      header: X-Client
      max_values: 20
user_identity:
  source: jwt_claim
  name: email
)");
  ASSERT_TRUE(result.ok()) << format_diagnostic(result.problems.front());
  const MetricsConfig& m = result.config.metrics;
  EXPECT_FALSE(m.enabled);
  EXPECT_EQ(m.route_label, RouteLabel::name);
  EXPECT_THAT(m.duration_buckets, ::testing::ElementsAre(0.01, 0.1, 1, 5));
  EXPECT_THAT(m.size_buckets, ::testing::ElementsAre(0u, 1024u, 1u << 20));
  EXPECT_EQ(m.learned_templates, 10u);
  EXPECT_EQ(m.top_users, 0u);
  EXPECT_TRUE(m.hash_user_ids);
  EXPECT_EQ(m.max_series, 1000u);
  ASSERT_EQ(m.extra_labels.size(), 2u);
  EXPECT_EQ(m.extra_labels[0].name, "request_type");
  EXPECT_EQ(m.extra_labels[0].source, ExtraLabelSource::query);
  EXPECT_EQ(m.extra_labels[0].key, "type");
  EXPECT_THAT(m.extra_labels[0].values, ::testing::ElementsAre("search", "browse"));
  EXPECT_EQ(m.extra_labels[0].max_values, 0u);
  EXPECT_EQ(m.extra_labels[0].where.line, 13);
  EXPECT_EQ(m.extra_labels[1].source, ExtraLabelSource::header);
  EXPECT_EQ(m.extra_labels[1].key, "X-Client");
  EXPECT_TRUE(m.extra_labels[1].values.empty());
  EXPECT_EQ(m.extra_labels[1].max_values, 20u);
  EXPECT_EQ(result.config.user_identity.source, IdentitySource::jwt_claim);
  EXPECT_EQ(result.config.user_identity.effective_name(), "email");
  EXPECT_TRUE(validate_config(result.config, result.origins).empty());
}

TEST(ConfigLoader, BucketsMayBeACommaSeparatedString) {
  const LoadResult result =
      load(std::string(kValidBase) + "metrics:\n  duration_buckets: 5ms, 1s\n  size_buckets: \"64,1KiB\"\n");
  ASSERT_TRUE(result.ok()) << format_diagnostic(result.problems.front());
  EXPECT_THAT(result.config.metrics.duration_buckets, ::testing::ElementsAre(0.005, 1));
  EXPECT_THAT(result.config.metrics.size_buckets, ::testing::ElementsAre(64u, 1024u));
}

TEST(ConfigLoader, UnsortedBucketIsPointedAtExactly) {
  EXPECT_EQ(only_problem(std::string(kValidBase) + "metrics:\n  duration_buckets: [0.1, 1, 0.5, 2]\n"),
            "test.yaml:3:30: metrics.duration_buckets: 0.5 is not greater than 1, the bucket before it; "
            "buckets must be strictly increasing");
  EXPECT_EQ(only_problem(std::string(kValidBase) + "metrics:\n  size_buckets:\n    - 1KiB\n    - 1024\n"),
            "test.yaml:5:7: metrics.size_buckets: 1024 is not greater than 1KiB, the bucket before it; "
            "buckets must be strictly increasing");
}

TEST(ConfigLoader, EveryBadBucketIsReportedAndTheDefaultKept) {
  const LoadResult result =
      load(std::string(kValidBase) + "metrics:\n  duration_buckets: [0, fast, +Inf, 1]\n");
  std::vector<std::string> all;
  for (const Diagnostic& d : result.problems) all.push_back(format_diagnostic(d));
  EXPECT_THAT(all, ::testing::ElementsAre(
                       "test.yaml:3:22: metrics.duration_buckets: invalid value \"0\": must be more than 0",
                       HasSubstr("3:25: metrics.duration_buckets: invalid value \"fast\""),
                       HasSubstr("3:31: metrics.duration_buckets: invalid value \"+Inf\": the +Inf bucket")));
  EXPECT_EQ(result.config.metrics.duration_buckets, Config().metrics.duration_buckets);
  EXPECT_THAT(only_problem(std::string(kValidBase) + "metrics:\n  duration_buckets: []\n"),
              HasSubstr("3:21: metrics.duration_buckets: empty list"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "metrics:\n  size_buckets: [[1]]\n"),
              HasSubstr("3:18: metrics.size_buckets: each item must be a size like"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "metrics:\n  size_buckets: {a: 1}\n"),
              HasSubstr("metrics.size_buckets must be increasing sizes like"));
}

TEST(ConfigLoader, BadMetricsAndUserIdentityValuesNameTheKey) {
  EXPECT_EQ(only_problem(std::string(kValidBase) + "metrics:\n  route_label: pattern\n"),
            "test.yaml:3:16: metrics.route_label: invalid value \"pattern\": use template or name");
  EXPECT_THAT(only_problem(std::string(kValidBase) + "metrics:\n  enabled: yes\n"),
              HasSubstr("3:12: metrics.enabled: invalid value \"yes\": use true or false"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "metrics:\n  hash_user_ids: 1\n"),
              HasSubstr("3:18: metrics.hash_user_ids: invalid value \"1\": use true or false"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "metrics:\n  top_users: -1\n"),
              HasSubstr("3:14: metrics.top_users: invalid value \"-1\": must not be negative"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "metrics:\n  learned_templates: lots\n"),
              HasSubstr("3:22: metrics.learned_templates: invalid value \"lots\""));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "metrics:\n  max_series: 50k\n"),
              HasSubstr("3:15: metrics.max_series: invalid value \"50k\""));
  // An unknown source is reported once, not again as a name that has no source.
  EXPECT_EQ(
      only_problem(std::string(kValidBase) + "user_identity:\n  source: jwt\n  name: email\n"),
      "test.yaml:3:11: user_identity.source: invalid value \"jwt\": use none, header, jwt_claim, api_key, "
      "cookie, client_address or client_certificate");
  EXPECT_THAT(only_problem(std::string(kValidBase) + "user_identity:\n  source: Header\n"),
              HasSubstr("(did you mean header?)"));
}

TEST(ConfigLoader, UnknownMetricsKeysAreSuggested) {
  EXPECT_EQ(only_problem(std::string(kValidBase) + "metrics:\n  top_user: 5\n"),
            "test.yaml:3:3: unknown key \"top_user\" in metrics; did you mean \"top_users\"?");
  EXPECT_EQ(only_problem(std::string(kValidBase) + "metrics:\n  extra_label: []\n"),
            "test.yaml:3:3: unknown key \"extra_label\" in metrics; did you mean \"extra_labels\"?");
  EXPECT_THAT(only_problem(std::string(kValidBase) + "top_users: 5\n"),
              HasSubstr("did you mean \"metrics.top_users\"?"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "extra_labels: []\n"),
              HasSubstr("did you mean \"metrics.extra_labels\"?"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "user_identity:\n  sorce: header\n"),
              HasSubstr("unknown key \"sorce\" in user_identity; did you mean \"source\"?"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "metric:\n  enabled: false\n"),
              HasSubstr("unknown key \"metric\"; did you mean \"metrics\"?"));
  EXPECT_THAT(only_problem(std::string(kValidBase) + "metrics: on\n"),
              HasSubstr("metrics must be a map of enabled, route_label"));
}

TEST(ConfigLoader, RouteBucketsOverrideTheGlobalOnesForThatRoute) {
  const LoadResult result =
      load(std::string(kValidBase) +
           "routes:\n  - name: search\n    exact: /search\n    buckets: [10ms, 0.05, 1s]\n"
           "  - name: other\n    prefix: /\n");
  ASSERT_TRUE(result.ok()) << format_diagnostic(result.problems.front());
  EXPECT_THAT(result.config.routes[0].duration_buckets, ::testing::ElementsAre(0.01, 0.05, 1));
  EXPECT_TRUE(result.config.routes[1].duration_buckets.empty());
  EXPECT_TRUE(validate_config(result.config, result.origins).empty());
}

TEST(ConfigLoader, BadRouteBucketsAreReportedWhereWrittenAndDropTheRoute) {
  const std::string route = std::string(kValidBase) + "routes:\n  - name: a\n    exact: /a\n    buckets: ";
  EXPECT_EQ(
      only_problem(route + "[1, 0.5]\n"),
      "test.yaml:5:18: route \"a\": buckets: 0.5 is not greater than 1, the bucket before it; buckets must "
      "be strictly increasing");
  EXPECT_EQ(only_problem(route + "[1, -2]\n"),
            "test.yaml:5:18: route \"a\": buckets: invalid value \"-2\": must not be negative");
  EXPECT_THAT(
      only_problem(route + "[]\n"),
      HasSubstr("5:14: route \"a\": buckets: empty list; omit buckets to use metrics.duration_buckets"));
  EXPECT_THAT(only_problem(route + "1s\n"), HasSubstr("5:14: route \"a\": buckets must be a list like"));
  const LoadResult dropped = load(route + "[1, 0.5]\n");
  EXPECT_TRUE(dropped.config.routes.empty());
  EXPECT_THAT(
      only_problem(std::string(kValidBase) + "routes:\n  - name: a\n    exact: /a\n    bucket: [1]\n"),
      HasSubstr("unknown key \"bucket\"; did you mean \"buckets\"?"));
}

// A config whose metrics.extra_labels are `items` (each "    - name: ..." with fields indented by 6).
std::string with_labels(const std::string& items) {
  return std::string(kValidBase) + "metrics:\n  extra_labels:\n" + items;
}

TEST(ConfigLoader, ExtraLabelNeedsExactlyOneOfHeaderAndQuery) {
  EXPECT_EQ(
      only_problem(with_labels("    - name: tier\n      values: [a]\n")),
      "test.yaml:4:7: extra label \"tier\": needs header: NAME or query: PARAM, where the value is read "
      "from");
  EXPECT_EQ(only_problem(with_labels(
                "    - name: tier\n      header: X-Tier\n      query: tier\n      values: [a]\n")),
            "test.yaml:6:7: extra label \"tier\": has both header and query; use exactly one");
}

TEST(ConfigLoader, ExtraLabelNeedsExactlyOneOfValuesAndMaxValues) {
  EXPECT_THAT(
      only_problem(with_labels("    - name: tier\n      header: X-Tier\n")),
      HasSubstr("4:7: extra label \"tier\": needs values: [allowed, ...] or max_values: N (at most 100)"));
  EXPECT_EQ(
      only_problem(
          with_labels("    - name: tier\n      header: X-Tier\n      values: [a]\n      max_values: 3\n")),
      "test.yaml:7:7: extra label \"tier\": has both values and max_values; use an allow-list or a cap, not "
      "both");
}

TEST(ConfigLoader, ExtraLabelMaxValuesIsOneToAHundred) {
  const std::string label = "    - name: tier\n      header: X-Tier\n      max_values: ";
  EXPECT_TRUE(problems_of(with_labels(label + "100\n")).empty());
  EXPECT_TRUE(problems_of(with_labels(label + "1\n")).empty());
  EXPECT_EQ(
      only_problem(with_labels(label + "101\n")),
      "test.yaml:6:19: extra label \"tier\": max_values: invalid value \"101\": must be 1-100 (each value is "
      "a set of series of its own)");
  EXPECT_THAT(only_problem(with_labels(label + "0\n")), HasSubstr("must be 1-100"));
  EXPECT_THAT(only_problem(with_labels(label + "ten\n")), HasSubstr("expected a whole number"));
}

TEST(ConfigLoader, ExtraLabelNameMustBeAPrometheusLabelApimeterDoesNotSet) {
  const auto named = [](const std::string& name) {
    return with_labels("    - name: \"" + name + "\"\n      query: q\n      max_values: 5\n");
  };
  for (const char* builtin : {"service", "http_route", "http_request_method", "http_response_status_code",
                              "error_type", "user", "le", "quantile"}) {
    EXPECT_THAT(only_problem(named(builtin)), HasSubstr("is one apimeter sets itself")) << builtin;
  }
  EXPECT_THAT(only_problem(named("1tier")),
              HasSubstr("4:13: extra label \"1tier\": label name \"1tier\" is not a "
                        "Prometheus label name"));
  EXPECT_THAT(only_problem(named("request-type")), HasSubstr("is not a Prometheus label name"));
  EXPECT_THAT(only_problem(named("__tier")), HasSubstr("starts with __, which Prometheus reserves"));
  EXPECT_THAT(only_problem(named("")), HasSubstr("label name is empty"));
  EXPECT_TRUE(problems_of(named("_tier2")).empty());
  EXPECT_THAT(only_problem(with_labels("    - query: q\n      max_values: 5\n")),
              HasSubstr("4:7: extra label #1: has no name"));
}

TEST(ConfigLoader, ExtraLabelSourceNamesAreChecked) {
  EXPECT_THAT(only_problem(with_labels("    - name: tier\n      header: X Tier\n      max_values: 5\n")),
              HasSubstr("5:15: extra label \"tier\": header name \"X Tier\" is not an HTTP token"));
  EXPECT_THAT(only_problem(with_labels("    - name: tier\n      query: a&b\n      max_values: 5\n")),
              HasSubstr("5:14: extra label \"tier\": query parameter name \"a&b\" may not contain"));
  EXPECT_THAT(only_problem(with_labels("    - name: tier\n      query: \"\"\n      max_values: 5\n")),
              HasSubstr("query parameter name is empty"));
  EXPECT_THAT(only_problem(with_labels("    - name: tier\n      query: [a]\n      max_values: 5\n")),
              HasSubstr("query must be a string; got a list"));
}

TEST(ConfigLoader, ExtraLabelValuesArePlainUniqueAndNotOther) {
  const std::string label = "    - name: tier\n      header: X-Tier\n      values: ";
  EXPECT_THAT(only_problem(with_labels(label + "[gold, gold]\n")),
              HasSubstr("6:22: extra label \"tier\": value \"gold\" is listed twice"));
  EXPECT_THAT(only_problem(with_labels(label + "[\"gold plus\"]\n")),
              HasSubstr("allowed value \"gold plus\" may only contain"));
  EXPECT_THAT(only_problem(with_labels(label + "[_other]\n")),
              HasSubstr("\"_other\" is what values outside"));
  EXPECT_THAT(only_problem(with_labels(label + "[\"\"]\n")), HasSubstr("an allowed value is empty"));
  EXPECT_THAT(only_problem(with_labels(label + "[" + std::string(65, 'a') + "]\n")),
              HasSubstr("is longer than 64 bytes"));
  EXPECT_THAT(only_problem(with_labels(label + "[]\n")), HasSubstr("got an empty list"));
  std::string many = "[v1";
  for (int i = 2; i <= 101; ++i) many += ", v" + std::to_string(i);
  EXPECT_THAT(only_problem(with_labels(label + many + "]\n")),
              HasSubstr("6:15: extra label \"tier\": values lists 101 values; at most 100"));
  EXPECT_TRUE(problems_of(with_labels(label + many.substr(0, many.rfind(',')) + "]\n")).empty());
  EXPECT_THAT(only_problem(with_labels(label + "gold\n")), HasSubstr("values must be a list"));
  EXPECT_TRUE(problems_of(with_labels(label + "[gold, v1.2, a/b, x@y, \"a:b\", c+d, e-f]\n")).empty());
}

TEST(ConfigLoader, ExtraLabelUnknownKeyIsSuggestedOrListsTheKnownOnes) {
  EXPECT_THAT(
      only_problem(
          with_labels("    - name: tier\n      header: X-Tier\n      values: [a]\n      max_value: 5\n")),
      HasSubstr("7:7: extra label \"tier\": unknown key \"max_value\"; did you mean \"max_values\"?"));
  EXPECT_THAT(
      problems_of(with_labels("    - name: tier\n      header: X-Tier\n      max_values: 5\n      cap: 5\n")),
      ::testing::ElementsAre(HasSubstr("unknown key \"cap\"; an extra label has name, header, query, "
                                       "values, max_values")));
}

TEST(ConfigLoader, ExtraLabelsMustBeAListOfMaps) {
  EXPECT_THAT(only_problem(std::string(kValidBase) + "metrics:\n  extra_labels: tier\n"),
              HasSubstr("3:17: metrics.extra_labels must be a list of labels"));
  EXPECT_THAT(only_problem(with_labels("    - tier\n")), HasSubstr("4:7: extra label #1 must be a map"));
  const LoadResult none = load(std::string(kValidBase) + "metrics:\n  extra_labels:\n");
  EXPECT_TRUE(none.ok());
  EXPECT_TRUE(none.config.metrics.extra_labels.empty());
}

TEST(ConfigLoader, DuplicateExtraLabelNameIsReported) {
  EXPECT_THAT(
      problems_of(with_labels("    - name: tier\n      header: X-Tier\n      max_values: 5\n"
                              "    - name: tier\n      query: tier\n      max_values: 5\n")),
      ::testing::ElementsAre("test.yaml:7:7: duplicate extra label name \"tier\", first used (line 4)"));
}

TEST(ConfigLoader, AtMostFourExtraLabels) {
  std::string items;
  for (int i = 1; i <= 5; ++i)
    items += "    - name: l" + std::to_string(i) + "\n      query: q" + std::to_string(i) +
             "\n      max_values: 2\n";
  EXPECT_EQ(
      only_problem(with_labels(items)),
      "test.yaml:16:7: metrics.extra_labels: 5 extra labels; at most 4, as each one multiplies the number "
      "of series");
  const std::string four = items.substr(0, items.find("    - name: l5"));
  EXPECT_TRUE(problems_of(with_labels(four)).empty());
}

std::string identity(const std::string& fields) {
  return std::string(kValidBase) + "user_identity:\n" + fields;
}

TEST(ConfigLoader, UserIdentityNameIsOptionalForHeaderApiKeyAndJwtClaim) {
  for (const char* source : {"header", "api_key", "jwt_claim", "client_address"}) {
    EXPECT_TRUE(problems_of(identity(std::string("  source: ") + source + "\n")).empty()) << source;
  }
  const LoadResult result = load(identity("  source: api_key\n"));
  EXPECT_EQ(result.config.user_identity.effective_name(), "X-Api-Key");
  EXPECT_TRUE(problems_of(identity("  source: header\n  name: X-Customer-Id\n")).empty());
  EXPECT_TRUE(problems_of(identity("  source: jwt_claim\n  name: https://example.com/tenant\n")).empty());
}

TEST(ConfigLoader, UserIdentityHeaderNameMustBeAToken) {
  EXPECT_EQ(
      only_problem(identity("  source: header\n  name: X User\n")),
      "test.yaml:4:9: user_identity.name: header name \"X User\" is not an HTTP token (letters, digits and "
      "!#$%&'*+-.^_`|~)");
  EXPECT_THAT(only_problem(identity("  source: api_key\n  name: \"X-Key:\"\n")),
              HasSubstr("not an HTTP token"));
}

TEST(ConfigLoader, UserIdentityCookieNeedsAValidName) {
  EXPECT_EQ(
      only_problem(identity("  source: cookie\n")),
      "test.yaml:3:11: user_identity.source is cookie but user_identity.name is empty: name the cookie that "
      "holds the user id");
  EXPECT_THAT(only_problem(identity("  source: cookie\n  name: \"user;id\"\n")),
              HasSubstr("4:9: user_identity.name: cookie name \"user;id\" is not a token"));
  EXPECT_TRUE(problems_of(identity("  source: cookie\n  name: uid\n")).empty());
}

TEST(ConfigLoader, UserIdentityNameWithoutASourceThatReadsItIsReported) {
  EXPECT_EQ(only_problem(identity("  name: X-User\n")),
            "test.yaml:3:9: user_identity.name is \"X-User\" but user_identity.source is none, so no user is "
            "identified; set the source too");
  EXPECT_THAT(only_problem(identity("  source: client_address\n  name: X-Forwarded-For\n")),
              HasSubstr("4:9: user_identity.name means nothing for source client_address"));
}

TEST(ConfigLoader, ZeroMaxSeriesIsReported) {
  EXPECT_THAT(only_problem(std::string(kValidBase) + "metrics:\n  max_series: 0\n"),
              HasSubstr("3:15: metrics.max_series is 0: no request series could be exported"));
}

TEST(ConfigDiagnostic, OmitsWhatIsUnknown) {
  EXPECT_EQ(format_diagnostic({{"a.yaml", 3, 7}, "m"}), "a.yaml:3:7: m");
  EXPECT_EQ(format_diagnostic({{"a.yaml", 3, 0}, "m"}), "a.yaml:3: m");
  EXPECT_EQ(format_diagnostic({{"--listen", 0, 0}, "m"}), "--listen: m");
  EXPECT_EQ(format_diagnostic({{"", 0, 0}, "m"}), "m");
}

TEST(ConfigExamples, ShopExampleIsValid) {
  const LoadResult result = load_config_file(APIMETER_SOURCE_DIR "/conf/apimeter.yaml");
  ASSERT_TRUE(result.ok()) << format_diagnostic(result.problems.front());
  const std::vector<Diagnostic> problems = validate_config(result.config, result.origins);
  EXPECT_TRUE(problems.empty()) << format_diagnostic(problems.front());
  EXPECT_EQ(result.config.service, "shop");
  EXPECT_EQ(result.config.upstreams.at(0).to_string(), "127.0.0.1:3000");
  std::vector<std::string> names;
  for (const RouteConfig& r : result.config.routes) names.push_back(r.name);
  EXPECT_THAT(names,
              ::testing::ElementsAre("products", "product", "order", "orders", "cart", "search", "static"));
  EXPECT_THAT(result.config.routes[5].duration_buckets, ::testing::SizeIs(9));
  EXPECT_TRUE(result.config.routes[0].duration_buckets.empty());
}

TEST(ConfigExamples, ShopExampleShowsEverySettingWithItsDefault) {
  const LoadResult result = load_config_file(APIMETER_SOURCE_DIR "/conf/apimeter.yaml");
  ASSERT_TRUE(result.ok());
  // Settings the example sets on purpose; every other one must show the built-in default.
  const std::vector<std::string_view> chosen = {"service", "admin", "upstream"};
  const Config defaults_config;
  for (const OptionRow& option : option_table()) {
    if (option.yaml_path.empty()) continue;
    EXPECT_TRUE(result.origins.by_flag.contains(std::string(option.flag)))
        << option.yaml_path << " not shown";
    if (std::find(chosen.begin(), chosen.end(), option.flag) != chosen.end()) continue;
    EXPECT_EQ(option.render(result.config), option.render(defaults_config)) << option.yaml_path;
  }
}

TEST(ConfigExamples, MinimalExampleIsValid) {
  const LoadResult result = load_config_file(APIMETER_SOURCE_DIR "/conf/apimeter-minimal.yaml");
  ASSERT_TRUE(result.ok()) << format_diagnostic(result.problems.front());
  EXPECT_TRUE(validate_config(result.config, result.origins).empty());
  EXPECT_EQ(result.config.upstreams.size(), 1u);
}

}  // namespace
}  // namespace apimeter
