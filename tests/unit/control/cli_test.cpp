// The command line and environment: commands, flag syntax, precedence file < env < flags, diagnostics
// with suggestions, the healthcheck's own flags, and --help generated from the settings table.
#include "control/cli.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace apimeter {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Command = CommandLine::Command;

struct Parsed {
  bool ok = false;
  CommandLine command_line;
  std::vector<std::string> problems;
};

Parsed parse(std::vector<const char*> args, std::vector<const char*> env = {}) {
  args.insert(args.begin(), "apimeter");
  env.push_back(nullptr);
  Parsed out;
  std::vector<Diagnostic> problems;
  out.ok =
      parse_command_line(static_cast<int>(args.size()), args.data(), env.data(), out.command_line, problems);
  for (const Diagnostic& d : problems) out.problems.push_back(format_diagnostic(d));
  return out;
}

LoadResult effective(std::vector<const char*> args, std::vector<const char*> env = {}) {
  const Parsed parsed = parse(std::move(args), std::move(env));
  EXPECT_TRUE(parsed.ok) << ::testing::PrintToString(parsed.problems);
  return load_effective_config(parsed.command_line);
}

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

std::vector<std::string> formatted(const std::vector<Diagnostic>& problems) {
  std::vector<std::string> out;
  for (const Diagnostic& d : problems) out.push_back(format_diagnostic(d));
  return out;
}

TEST(Cli, NoArgumentsRunsWithDefaults) {
  const Parsed p = parse({});
  EXPECT_TRUE(p.ok);
  EXPECT_EQ(p.command_line.command, Command::run);
  EXPECT_TRUE(p.command_line.settings.empty());
  EXPECT_TRUE(p.command_line.config_path.empty());
}

TEST(Cli, RecognisesEveryCommand) {
  EXPECT_EQ(parse({"check", "--config", "a.yaml"}).command_line.command, Command::check);
  EXPECT_EQ(parse({"healthcheck"}).command_line.command, Command::healthcheck);
  EXPECT_EQ(parse({"--version"}).command_line.command, Command::version);
  EXPECT_EQ(parse({"--help"}).command_line.command, Command::help);
  EXPECT_EQ(parse({"-h"}).command_line.command, Command::help);
  EXPECT_EQ(parse({"check", "--help"}).command_line.command, Command::help);
  EXPECT_EQ(parse({"--listen", "1.2.3.4:5", "--version"}).command_line.command, Command::version);
}

TEST(Cli, UnknownCommandIsReportedWithSuggestion) {
  const Parsed p = parse({"chek"});
  EXPECT_FALSE(p.ok);
  EXPECT_THAT(p.problems, ::testing::ElementsAre(HasSubstr("chek: unknown command; use check, healthcheck")));
  EXPECT_THAT(p.problems[0], HasSubstr("did you mean check?"));
}

TEST(Cli, FlagsTakeSpaceOrEqualsSeparatedValues) {
  const Parsed p = parse({"--listen", "0.0.0.0:1", "--admin=127.0.0.1:2", "--service=a=b"});
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.command_line.settings.size(), 3u);
  EXPECT_EQ(p.command_line.settings[0].option->flag, "listen");
  EXPECT_EQ(p.command_line.settings[0].value, "0.0.0.0:1");
  EXPECT_EQ(p.command_line.settings[0].source, "--listen");
  EXPECT_EQ(p.command_line.settings[1].value, "127.0.0.1:2");
  EXPECT_EQ(p.command_line.settings[2].value, "a=b");
}

TEST(Cli, UnknownFlagIsReportedWithSuggestion) {
  const Parsed p = parse({"--listn", "0.0.0.0:1", "--upstream-timeout=5s"});
  EXPECT_FALSE(p.ok);
  EXPECT_THAT(p.problems, ::testing::ElementsAre("--listn: unknown flag; did you mean --listen?",
                                                 HasSubstr("--upstream-timeout: unknown flag")));
  EXPECT_THAT(parse({"--versoin"}).problems, ::testing::ElementsAre(HasSubstr("did you mean --version?")));
}

TEST(Cli, MissingValueIsReported) {
  EXPECT_THAT(parse({"--listen"}).problems,
              ::testing::ElementsAre("--listen: needs a value: --listen VALUE or --listen=VALUE"));
  EXPECT_THAT(parse({"--listen", "--admin", "x:1"}).problems,
              ::testing::ElementsAre(HasSubstr("--listen: needs a value")));
}

TEST(Cli, StrayArgumentIsReported) {
  EXPECT_THAT(parse({"serve"}).problems, ::testing::ElementsAre(HasSubstr("unknown command")));
  EXPECT_THAT(parse({"--workers", "2", "extra"}).problems,
              ::testing::ElementsAre("extra: unexpected argument; flags start with --"));
  EXPECT_THAT(parse({"check", "apimeter.yaml"}).problems,
              ::testing::Contains(HasSubstr("did you mean --config apimeter.yaml?")));
}

TEST(Cli, BareBooleanFlagMeansTrue) {
  const Parsed bare = parse({"--trust-forwarded-headers", "--workers", "2"});
  ASSERT_TRUE(bare.ok);
  EXPECT_EQ(bare.command_line.settings[0].value, "true");
  EXPECT_EQ(bare.command_line.settings[1].value, "2");
  EXPECT_EQ(parse({"--trust-forwarded-headers", "false"}).command_line.settings[0].value, "false");
  EXPECT_EQ(parse({"--trust-forwarded-headers=false"}).command_line.settings[0].value, "false");
}

TEST(Cli, RepeatedUpstreamFlagsAddUp) {
  const LoadResult result = effective({"--upstream", "a:1", "--upstream=b:2,c:3"});
  ASSERT_TRUE(result.ok()) << formatted(result.problems).front();
  ASSERT_EQ(result.config.upstreams.size(), 3u);
  EXPECT_EQ(result.config.upstreams[2].to_string(), "c:3");
}

TEST(Cli, RepeatedScalarFlagLastWins) {
  const LoadResult result = effective({"--upstream", "a:1", "--workers", "2", "--workers", "5"});
  EXPECT_EQ(result.config.workers, 5u);
}

TEST(Cli, EnvironmentVariablesAreSettings) {
  const Parsed p = parse({}, {"APIMETER_LISTEN=0.0.0.0:1", "PATH=/bin", "APIMETER_CLIENT_HEADER_TIMEOUT=3s"});
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.command_line.settings.size(), 2u);
  EXPECT_EQ(p.command_line.settings[0].source, "APIMETER_LISTEN");
  EXPECT_EQ(p.command_line.settings[1].option->flag, "client-header-timeout");
}

TEST(Cli, EmptyEnvironmentVariableIsIgnored) {
  const Parsed p = parse({}, {"APIMETER_LISTEN=", "APIMETER_CONFIG="});
  EXPECT_TRUE(p.ok);
  EXPECT_TRUE(p.command_line.settings.empty());
  EXPECT_TRUE(p.command_line.config_path.empty());
}

TEST(Cli, UnknownEnvironmentVariableIsReportedWithSuggestion) {
  const Parsed p = parse({}, {"APIMETER_LISTN=0.0.0.0:1"});
  EXPECT_FALSE(p.ok);
  EXPECT_THAT(p.problems, ::testing::ElementsAre(
                              "APIMETER_LISTN: unknown environment variable; did you mean APIMETER_LISTEN?"));
}

TEST(Cli, ConfigComesFromFlagOrEnvironment) {
  EXPECT_EQ(parse({"--config", "a.yaml"}).command_line.config_path, "a.yaml");
  EXPECT_EQ(parse({}, {"APIMETER_CONFIG=b.yaml"}).command_line.config_path, "b.yaml");
  EXPECT_EQ(parse({"--config=a.yaml"}, {"APIMETER_CONFIG=b.yaml"}).command_line.config_path, "a.yaml");
  EXPECT_THAT(parse({"--config="}).problems, ::testing::ElementsAre("--config: needs a file name"));
}

TEST(Cli, CheckNeedsAConfigFile) {
  EXPECT_THAT(parse({"check"}).problems,
              ::testing::ElementsAre("check: needs --config FILE (or APIMETER_CONFIG)"));
  EXPECT_TRUE(parse({"check"}, {"APIMETER_CONFIG=x.yaml"}).ok);
}

TEST(Cli, FlagsOverrideEnvOverrideFile) {
  const std::string path = write_file("apimeter_cli_precedence.yaml",
                                      "upstreams: [file:1]\nworkers: 1\nservice: from-file\n"
                                      "timeouts:\n  request: 1s\n  client_idle: 7s\n");
  const LoadResult result = effective({"--config", path.c_str(), "--workers", "3", "--upstream", "flag:3"},
                                      {"APIMETER_WORKERS=2", "APIMETER_SERVICE=from-env",
                                       "APIMETER_UPSTREAM=env:2", "APIMETER_REQUEST_TIMEOUT=2s"});
  ASSERT_TRUE(result.ok()) << formatted(result.problems).front();
  EXPECT_EQ(result.config.workers, 3u);               // flag > env > file
  EXPECT_EQ(result.config.service, "from-env");       // env > file
  EXPECT_EQ(result.config.timeouts.request, 2s);      // env > file
  EXPECT_EQ(result.config.timeouts.client_idle, 7s);  // file > default
  ASSERT_EQ(result.config.upstreams.size(), 1u);      // a list is replaced, not merged
  EXPECT_EQ(result.config.upstreams[0].host, "flag");
  EXPECT_EQ(result.config.config_path, path);
  EXPECT_EQ(result.origins.find("workers").file, "--workers");
  EXPECT_EQ(result.origins.find("service").file, "APIMETER_SERVICE");
  EXPECT_EQ(result.origins.find("client-idle-timeout").line, 6);
}

TEST(Cli, BadSettingValuesNameTheirSource) {
  const LoadResult result =
      effective({"--upstream", "a:1", "--client-header-timeout", "10"}, {"APIMETER_MAX_URI_BYTES=1m"});
  EXPECT_THAT(
      formatted(result.problems),
      ::testing::ElementsAre(HasSubstr("APIMETER_MAX_URI_BYTES: invalid value \"1m\": unknown unit"),
                             HasSubstr("--client-header-timeout: invalid value \"10\": missing unit")));
}

TEST(Cli, ValidationBlamesTheFlagThatSetTheValue) {
  const LoadResult result = effective({"--upstream", "a:1", "--max-uri-bytes", "64KiB"});
  EXPECT_THAT(formatted(result.problems),
              ::testing::ElementsAre(HasSubstr("--max-uri-bytes: limits contradict")));
}

TEST(Cli, ZeroConfigModeNeedsAnUpstream) {
  const LoadResult result = effective({});
  EXPECT_THAT(formatted(result.problems), ::testing::ElementsAre(HasSubstr("no upstream")));
  EXPECT_TRUE(effective({}, {"APIMETER_UPSTREAM=shop:3000"}).ok());
}

TEST(Cli, FlagFixesAnInvalidFileValue) {
  const std::string path = write_file("apimeter_cli_fix.yaml", "upstreams: [a:1]\nworkers: many\n");
  const LoadResult result = effective({"--config", path.c_str(), "--workers", "2"});
  ASSERT_EQ(result.problems.size(), 1u);  // the file's mistake is still reported
  EXPECT_EQ(result.problems[0].where.line, 2);
  EXPECT_EQ(result.config.workers, 2u);
}

TEST(Cli, UnparsableFileSkipsValidation) {
  const std::string path = write_file("apimeter_cli_broken.yaml", "upstreams: [a:1\n");
  const LoadResult result = effective({"--config", path.c_str()});
  EXPECT_FALSE(result.parsed);
  EXPECT_THAT(formatted(result.problems), ::testing::ElementsAre(HasSubstr("YAML syntax error")));
}

TEST(Cli, ApplySettingsKeepsThePreviousValueOnError) {
  Config config;
  const std::vector<Setting> settings = {{find_option_by_flag("workers"), "4", "--workers"},
                                         {find_option_by_flag("workers"), "x", "--workers"}};
  const std::vector<Diagnostic> problems = apply_settings(config, settings);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].where.file, "--workers");
  EXPECT_EQ(config.workers, 4u);
}

TEST(Cli, MetricsAndUserIdentityComeFromFlagsAndEnvironment) {
  const LoadResult result = effective(
      {"--upstream", "a:1", "--metrics-enabled=false", "--metrics-route-label", "name",
       "--metrics-duration-buckets", "5ms,1s", "--user-identity-source", "header", "--metrics-hash-user-ids"},
      {"APIMETER_METRICS_TOP_USERS=0", "APIMETER_METRICS_MAX_SERIES=100",
       "APIMETER_METRICS_SIZE_BUCKETS=1KiB,1MiB", "APIMETER_METRICS_LEARNED_TEMPLATES=7",
       "APIMETER_USER_IDENTITY_NAME=X-Customer"});
  ASSERT_TRUE(result.ok()) << formatted(result.problems).front();
  const MetricsConfig& m = result.config.metrics;
  EXPECT_FALSE(m.enabled);
  EXPECT_EQ(m.route_label, RouteLabel::name);
  EXPECT_THAT(m.duration_buckets, ::testing::ElementsAre(0.005, 1));
  EXPECT_THAT(m.size_buckets, ::testing::ElementsAre(1024u, 1u << 20));
  EXPECT_EQ(m.top_users, 0u);
  EXPECT_EQ(m.max_series, 100u);
  EXPECT_EQ(m.learned_templates, 7u);
  EXPECT_TRUE(m.hash_user_ids);
  EXPECT_EQ(result.config.user_identity.source, IdentitySource::header);
  EXPECT_EQ(result.config.user_identity.effective_name(), "X-Customer");
}

TEST(Cli, RepeatedBucketFlagsAddUpAndReplaceTheFile) {
  const std::string path =
      write_file("apimeter_cli_buckets.yaml", "upstreams: [a:1]\nmetrics:\n  duration_buckets: [1, 2]\n");
  const LoadResult result = effective(
      {"--config", path.c_str(), "--metrics-duration-buckets", "0.1", "--metrics-duration-buckets=0.5,1"});
  ASSERT_TRUE(result.ok()) << formatted(result.problems).front();
  EXPECT_THAT(result.config.metrics.duration_buckets, ::testing::ElementsAre(0.1, 0.5, 1));
}

TEST(Cli, BadMetricsValuesNameTheirSource) {
  const LoadResult result =
      effective({"--upstream", "a:1", "--metrics-duration-buckets", "1,0.5"},
                {"APIMETER_METRICS_ROUTE_LABEL=path", "APIMETER_USER_IDENTITY_SOURCE=jwt"});
  EXPECT_THAT(
      formatted(result.problems),
      ::testing::ElementsAre("APIMETER_METRICS_ROUTE_LABEL: invalid value \"path\": use template or name",
                             HasSubstr("APIMETER_USER_IDENTITY_SOURCE: invalid value \"jwt\": use none"),
                             HasSubstr("--metrics-duration-buckets: invalid value \"1,0.5\": 0.5 is not "
                                       "greater than 1")));
}

TEST(Cli, UserIdentityValidationBlamesTheFlagThatSetIt) {
  EXPECT_THAT(
      formatted(effective({"--upstream", "a:1", "--user-identity-source", "cookie"}).problems),
      ::testing::ElementsAre(HasSubstr("--user-identity-source: user_identity.source is cookie but")));
  EXPECT_THAT(
      formatted(effective({"--upstream", "a:1", "--user-identity-source", "header", "--user-identity-name",
                           "X User"})
                    .problems),
      ::testing::ElementsAre(HasSubstr("--user-identity-name: user_identity.name: header name \"X User\"")));
  EXPECT_TRUE(
      effective({"--upstream", "a:1", "--user-identity-source=cookie", "--user-identity-name=uid"}).ok());
}

TEST(CliHealthcheck, DefaultsToLocalAdminAndTwoSeconds) {
  const Parsed p = parse({"healthcheck"});
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.command_line.admin_address.to_string(), "127.0.0.1:9901");
  EXPECT_EQ(p.command_line.healthcheck_timeout, 2s);
}

TEST(CliHealthcheck, TakesAdminAndTimeoutFlags) {
  const Parsed p = parse({"healthcheck", "--admin", "[::1]:9000", "--timeout=500ms"});
  ASSERT_TRUE(p.ok) << ::testing::PrintToString(p.problems);
  EXPECT_EQ(p.command_line.admin_address.to_string(), "[::1]:9000");
  EXPECT_EQ(p.command_line.healthcheck_timeout, 500ms);
}

TEST(CliHealthcheck, UsesAdminFromEnvironmentWithWildcardMadeLocal) {
  EXPECT_EQ(
      parse({"healthcheck"}, {"APIMETER_ADMIN=0.0.0.0:9911"}).command_line.admin_address.to_string(),
      "127.0.0.1:9911");
  EXPECT_EQ(parse({"healthcheck"}, {"APIMETER_ADMIN=[::]:9911"}).command_line.admin_address.to_string(),
            "[::1]:9911");
  const Parsed flag_wins = parse({"healthcheck", "--admin", "10.0.0.1:1"}, {"APIMETER_ADMIN=broken"});
  EXPECT_TRUE(flag_wins.ok);
  EXPECT_EQ(flag_wins.command_line.admin_address.to_string(), "10.0.0.1:1");
}

TEST(CliHealthcheck, IgnoresTheRestOfTheProxyEnvironment) {
  EXPECT_TRUE(parse({"healthcheck"}, {"APIMETER_LISTEN=bad", "APIMETER_NOT_A_SETTING=1"}).ok);
}

TEST(CliHealthcheck, RejectsBadValuesAndOtherFlags) {
  EXPECT_THAT(
      parse({"healthcheck", "--admin", "localhost:0"}).problems,
      ::testing::ElementsAre(HasSubstr("--admin: invalid value \"localhost:0\": port must be 1-65535")));
  EXPECT_THAT(parse({"healthcheck", "--timeout", "0"}).problems,
              ::testing::ElementsAre("--timeout: must be more than 0"));
  EXPECT_THAT(parse({"healthcheck", "--timeout", "2"}).problems,
              ::testing::ElementsAre(HasSubstr("missing unit")));
  EXPECT_THAT(
      parse({"healthcheck", "--listen", "x:1"}).problems,
      ::testing::ElementsAre(HasSubstr("healthcheck takes only --admin HOST:PORT and --timeout DURATION")));
  EXPECT_THAT(parse({"healthcheck", "--timout=1s"}).problems,
              ::testing::ElementsAre(HasSubstr("did you mean --timeout?")));
}

TEST(CliTop, DefaultsToLocalAdminSortedByRateEverySecond) {
  const Parsed p = parse({"top"}, {"APIMETER_LISTEN=bad"});
  ASSERT_TRUE(p.ok) << ::testing::PrintToString(p.problems);
  EXPECT_EQ(p.command_line.command, Command::top);
  EXPECT_EQ(p.command_line.admin_address.to_string(), "127.0.0.1:9901");
  EXPECT_EQ(p.command_line.top_sort, top::SortKey::rps);
  EXPECT_EQ(p.command_line.top_interval, 1s);
  EXPECT_FALSE(p.command_line.top_json);
}

TEST(CliTop, TakesAdminSortIntervalAndJson) {
  const Parsed p = parse({"top", "--admin=0.0.0.0:9911", "--sort", "p95", "--interval", "250ms", "--json"});
  ASSERT_TRUE(p.ok) << ::testing::PrintToString(p.problems);
  EXPECT_EQ(p.command_line.admin_address.to_string(), "127.0.0.1:9911");
  EXPECT_EQ(p.command_line.top_sort, top::SortKey::p95);
  EXPECT_EQ(p.command_line.top_interval, 250ms);
  EXPECT_TRUE(p.command_line.top_json);
  EXPECT_EQ(parse({"top"}, {"APIMETER_ADMIN=10.0.0.2:9000"}).command_line.admin_address.to_string(), "10.0.0.2:9000");
}

TEST(CliTop, RejectsBadValuesAndOtherFlags) {
  EXPECT_THAT(parse({"top", "--sort", "latency"}).problems,
              ::testing::ElementsAre("--sort: invalid value \"latency\": use rps, errors, p95 or bytes"));
  EXPECT_THAT(parse({"top", "--interval", "10ms"}).problems, ::testing::ElementsAre("--interval: must be at least 100ms"));
  EXPECT_THAT(parse({"top", "--json=yes"}).problems, ::testing::ElementsAre(HasSubstr("top takes only --admin HOST:PORT")));
  EXPECT_THAT(parse({"top", "--srot", "p95"}).problems, ::testing::ElementsAre(HasSubstr("did you mean --sort?")));
  EXPECT_THAT(parse({"tpo"}).problems, ::testing::ElementsAre(HasSubstr("use check, healthcheck, top, --help")));
}

TEST(CliHelp, ListsEveryFlagWithEnvVarYamlKeyDefaultAndMeaning) {
  const std::string help = help_text();
  const Config defaults_config;
  for (const OptionRow& option : option_table()) {
    EXPECT_THAT(help, HasSubstr("--" + std::string(option.flag) + " ")) << option.flag;
    EXPECT_THAT(help, HasSubstr(option.env_name()));
    EXPECT_THAT(help, HasSubstr(std::string(option.help)));
    EXPECT_THAT(help, HasSubstr(std::string(option.yaml_path)));
    const std::string shown = option.render(defaults_config);
    EXPECT_THAT(help, HasSubstr("(default " + (shown.empty() ? std::string("none") : shown) + ")"))
        << option.flag;
  }
  EXPECT_THAT(help, HasSubstr("--client-header-timeout DURATION"));
  EXPECT_THAT(help, HasSubstr("(default 10s)"));
}

TEST(CliHelp, ExplainsBucketAndIdentitySourceValues) {
  const std::string help = help_text();
  EXPECT_THAT(help, HasSubstr("--metrics-duration-buckets SECONDS[,...]"));
  EXPECT_THAT(help, HasSubstr("(default 0.005,0.01,0.025,0.05,0.075,0.1,0.25,0.5,0.75,1,2.5,5,7.5,10)"));
  EXPECT_THAT(help, HasSubstr("(default 64,256,1KiB,4KiB,16KiB,64KiB,256KiB,1MiB,4MiB,16MiB,64MiB)"));
  EXPECT_THAT(help, HasSubstr("SECONDS   histogram bounds"));
  EXPECT_THAT(
      help,
      HasSubstr("SOURCE    none, header, jwt_claim, api_key, cookie, client_address or client_certificate"));
  EXPECT_THAT(help, HasSubstr("metrics.extra_labels are configured in the file only"));
}

TEST(CliHelp, ListsTheCommands) {
  const std::string help = help_text();
  EXPECT_THAT(help, HasSubstr("apimeter check --config FILE"));
  EXPECT_THAT(help, HasSubstr("apimeter healthcheck [--admin HOST:PORT] [--timeout DURATION]"));
  EXPECT_THAT(help, HasSubstr("apimeter --version"));
  EXPECT_THAT(help, HasSubstr("apimeter --help"));
}

TEST(CliHelp, VersionNamesTheProgram) {
  EXPECT_THAT(version_text(), ::testing::StartsWith("apimeter "));
}

TEST(Cli, OpenTelemetryVariablesSetTracing) {
  const LoadResult r = effective({"--upstream", "127.0.0.1:3000"},
                                 {"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318/",
                                  "OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20abc", "OTEL_TRACES_SAMPLER=traceidratio",
                                  "OTEL_TRACES_SAMPLER_ARG=0.25", "OTEL_SERVICE_NAME=shop-api",
                                  "OTEL_EXPORTER_OTLP_TIMEOUT=2500", "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod"});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(formatted(r.problems));
  EXPECT_TRUE(r.config.tracing.enabled);
  EXPECT_EQ(r.config.tracing.endpoint, "http://collector:4318/v1/traces");
  EXPECT_EQ(r.config.tracing.headers, "authorization=Bearer%20abc");
  EXPECT_EQ(r.config.tracing.sampler, tracing::SamplerKind::traceidratio);
  EXPECT_DOUBLE_EQ(r.config.tracing.sampler_ratio, 0.25);
  EXPECT_EQ(r.config.tracing.service_name, "shop-api");
  EXPECT_EQ(r.config.tracing.export_timeout, 2500ms);
  EXPECT_EQ(r.config.tracing.resource_attributes, "deployment.environment=prod");
}

TEST(Cli, TracesSpecificOtelVariablesWinAndApimeterVariablesWinOverBoth) {
  const LoadResult r = effective({"--upstream", "127.0.0.1:3000"},
                                 {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://b:4318/x", "OTEL_EXPORTER_OTLP_ENDPOINT=http://a:4318",
                                  "OTEL_SDK_DISABLED=true", "APIMETER_TRACING_ENABLED=true", "OTEL_TRACES_EXPORTER=otlp"});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(formatted(r.problems));
  EXPECT_EQ(r.config.tracing.endpoint, "http://b:4318/x");
  EXPECT_TRUE(r.config.tracing.enabled);
  const LoadResult flagged = effective({"--upstream", "127.0.0.1:3000", "--tracing-endpoint", "http://c:1/v1/traces"},
                                       {"APIMETER_TRACING_ENDPOINT=http://d:2/v1/traces", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://b:4318/x"});
  EXPECT_EQ(flagged.config.tracing.endpoint, "http://c:1/v1/traces");
}

TEST(Cli, OtherOtlpProtocolsAndBadOtelValuesAreReported) {
  const Parsed p = parse({}, {"OTEL_EXPORTER_OTLP_PROTOCOL=grpc"});
  EXPECT_FALSE(p.ok);
  EXPECT_THAT(::testing::PrintToString(p.problems), HasSubstr("only http/protobuf"));
  const Parsed q = parse({"--upstream", "127.0.0.1:3000"}, {"OTEL_TRACES_SAMPLER_ARG=2"});
  const LoadResult r = load_effective_config(q.command_line);
  EXPECT_THAT(::testing::PrintToString(formatted(r.problems)), HasSubstr("OTEL_TRACES_SAMPLER_ARG"));
}

}  // namespace
}  // namespace apimeter
