// The settings table and its value parsers: every kind's good and bad spellings, and the table's own
// invariants (unique names, one level of YAML nesting, render/assign round trip).
#include "proxy/options.hpp"

#include <gtest/gtest.h>

#include <set>

namespace apimeter {
namespace {

using namespace std::chrono_literals;

Duration duration_of(std::string_view text) {
  Duration out{-1};
  std::string error;
  EXPECT_TRUE(parse_duration(text, out, error)) << text << ": " << error;
  return out;
}

std::string duration_error(std::string_view text) {
  Duration out{};
  std::string error;
  EXPECT_FALSE(parse_duration(text, out, error)) << text;
  return error;
}

std::uint64_t size_of(std::string_view text) {
  std::uint64_t out = 0;
  std::string error;
  EXPECT_TRUE(parse_size(text, out, error)) << text << ": " << error;
  return out;
}

std::string size_error(std::string_view text) {
  std::uint64_t out = 0;
  std::string error;
  EXPECT_FALSE(parse_size(text, out, error)) << text;
  return error;
}

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

TEST(OptionDuration, AcceptsEachUnitAndBareZero) {
  EXPECT_EQ(duration_of("250ms"), 250ms);
  EXPECT_EQ(duration_of("10s"), 10s);
  EXPECT_EQ(duration_of("2m"), 2min);
  EXPECT_EQ(duration_of("1h"), 1h);
  EXPECT_EQ(duration_of("0"), 0ms);
  EXPECT_EQ(duration_of("0s"), 0ms);
}

TEST(OptionDuration, RejectsNegativeGarbageAndMissingUnit) {
  EXPECT_NE(duration_error("-5s").find("negative"), std::string::npos);
  EXPECT_NE(duration_error("10").find("missing unit"), std::string::npos);
  EXPECT_NE(duration_error("10sec").find("unknown unit \"sec\""), std::string::npos);
  EXPECT_NE(duration_error("1.5s").find("whole number"), std::string::npos);
  EXPECT_FALSE(duration_error("").empty());
  EXPECT_FALSE(duration_error("s").empty());
  EXPECT_FALSE(duration_error("ten seconds").empty());
  EXPECT_FALSE(duration_error(" 10s").empty());
  EXPECT_FALSE(duration_error("10s ").empty());
  EXPECT_FALSE(duration_error("1m30s").empty());
  EXPECT_FALSE(duration_error("+5s").empty());
}

TEST(OptionDuration, RejectsOverflowAndMoreThanAYear) {
  EXPECT_FALSE(duration_error("99999999999999999999999s").empty());
  EXPECT_NE(duration_error("9000h").find("year"), std::string::npos);
  EXPECT_EQ(duration_of("8760h"), 8760h);
}

TEST(OptionDuration, FormatsInTheLargestExactUnit) {
  EXPECT_EQ(format_duration(0ms), "0");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(10s), "10s");
  EXPECT_EQ(format_duration(600s), "10m");
  EXPECT_EQ(format_duration(2h), "2h");
}

TEST(OptionSize, AcceptsBytesAndBinaryUnits) {
  EXPECT_EQ(size_of("512"), 512u);
  EXPECT_EQ(size_of("512B"), 512u);
  EXPECT_EQ(size_of("16KiB"), 16u * 1024);
  EXPECT_EQ(size_of("1MiB"), 1024u * 1024);
  EXPECT_EQ(size_of("1GiB"), 1024u * 1024 * 1024);
  EXPECT_EQ(size_of("0"), 0u);
}

TEST(OptionSize, RejectsOtherSpellingsOfUnits) {
  for (const char* text : {"16k", "1m", "16KB", "16kib", "1MB", "1TiB", "16 KiB"}) {
    EXPECT_NE(size_error(text).find("unknown unit"), std::string::npos) << text;
  }
  EXPECT_NE(size_error("-1").find("negative"), std::string::npos);
  EXPECT_NE(size_error("1.5MiB").find("whole number"), std::string::npos);
  EXPECT_FALSE(size_error("").empty());
  EXPECT_FALSE(size_error("KiB").empty());
  EXPECT_NE(size_error("99999999999GiB").find("too large"), std::string::npos);
}

TEST(OptionSize, FormatsInTheLargestExactUnit) {
  EXPECT_EQ(format_size(0), "0");
  EXPECT_EQ(format_size(512), "512");
  EXPECT_EQ(format_size(16 * 1024), "16KiB");
  EXPECT_EQ(format_size(1536), "1536");
  EXPECT_EQ(format_size(3u << 20), "3MiB");
  EXPECT_EQ(format_size(1ull << 30), "1GiB");
}

TEST(OptionCount, AcceptsDigitsOnly) {
  std::uint64_t out = 0;
  std::string error;
  EXPECT_TRUE(parse_count("0", out, error));
  EXPECT_TRUE(parse_count("100", out, error));
  EXPECT_EQ(out, 100u);
  for (const char* text : {"-1", "1e3", "12abc", "", "1.5", "0x10", " 1"}) {
    EXPECT_FALSE(parse_count(text, out, error)) << text;
  }
}

TEST(OptionCount, RejectsValuesTooLargeForTheField) {
  EXPECT_EQ(assigned("workers", "4").workers, 4u);
  EXPECT_NE(assign_error("workers", "4294967296").find("too large"), std::string::npos);
}

TEST(OptionBool, AcceptsOnlyTrueAndFalse) {
  bool out = false;
  std::string error;
  EXPECT_TRUE(parse_bool("true", out, error));
  EXPECT_TRUE(out);
  EXPECT_TRUE(parse_bool("false", out, error));
  EXPECT_FALSE(out);
  for (const char* text : {"yes", "no", "1", "0", "True", "on", ""}) {
    EXPECT_FALSE(parse_bool(text, out, error)) << text;
  }
}

TEST(OptionHostPort, ParsesIpv4NameAndBracketedIpv6) {
  HostPort out;
  std::string error;
  ASSERT_TRUE(parse_host_port("0.0.0.0:8080", false, out, error)) << error;
  EXPECT_EQ(out.host, "0.0.0.0");
  EXPECT_EQ(out.port, 8080);
  ASSERT_TRUE(parse_host_port("[::1]:8080", false, out, error)) << error;
  EXPECT_EQ(out.host, "::1");
  EXPECT_EQ(out.to_string(), "[::1]:8080");
  ASSERT_TRUE(parse_host_port("shop:3000", false, out, error)) << error;
  EXPECT_EQ(out.to_string(), "shop:3000");
  ASSERT_TRUE(parse_host_port("[fe80::1%eth0]:65535", false, out, error)) << error;
  EXPECT_EQ(out.port, 65535);
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

TEST(OptionHostPort, RejectsMalformedAddresses) {
  HostPort out;
  std::string error;
  struct Case {
    const char* text;
    const char* reason;
  };
  for (const Case& c :
       {Case{"shop", "missing :PORT"}, Case{"shop:", "number"}, Case{"shop:http", "number"},
        Case{"shop:65536", "65535"}, Case{"shop:99999999999999999999", "65535"}, Case{"::1:8080", "brackets"},
        Case{":8080", "missing host"}, Case{"[::1]8080", ":PORT"}, Case{"[::1:8080", "]"},
        Case{"[zz]:80", "IPv6"}, Case{"sh op:80", "invalid host"}, Case{"", "empty"}}) {
    EXPECT_FALSE(parse_host_port(c.text, true, out, error)) << c.text;
    EXPECT_NE(error.find(c.reason), std::string::npos) << c.text << " -> " << error;
  }
}

TEST(OptionHostPortList, SplitsOnCommasAndNamesTheBadEntry) {
  std::vector<HostPort> out;
  std::string error;
  ASSERT_TRUE(parse_host_port_list("a:1, b:2,[::1]:3", out, error)) << error;
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].to_string(), "b:2");
  EXPECT_EQ(out[2].to_string(), "[::1]:3");
  EXPECT_FALSE(parse_host_port_list("a:1,b", out, error));
  EXPECT_NE(error.find("\"b\""), std::string::npos) << error;
  EXPECT_FALSE(parse_host_port_list("a:1,,b:2", out, error));
  EXPECT_NE(error.find("empty entry"), std::string::npos);
  EXPECT_FALSE(parse_host_port_list("", out, error));
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
  EXPECT_EQ(flags.size(), 28u);  // config plus the 27 settings of the file
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

TEST(OptionClosestMatch, SuggestsOnlyNearCandidates) {
  constexpr std::string_view candidates[] = {"listen", "admin", "upstreams", "client_header"};
  EXPECT_EQ(closest_match("listn", candidates), "listen");
  EXPECT_EQ(closest_match("upstream", candidates), "upstreams");
  EXPECT_EQ(closest_match("client-header", candidates), "client_header");
  EXPECT_EQ(closest_match("zzz", candidates), "");
  EXPECT_EQ(closest_match("routes", candidates), "");
}

}  // namespace
}  // namespace apimeter
