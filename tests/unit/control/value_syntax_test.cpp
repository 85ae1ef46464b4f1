// The value spellings: every kind's good and bad spellings and their formatting back.
#include "control/value_syntax.hpp"

#include <gtest/gtest.h>

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

std::vector<double> seconds_of(std::string_view text) {
  std::vector<double> out;
  std::string error;
  EXPECT_TRUE(parse_duration_buckets(text, out, error)) << text << ": " << error;
  return out;
}

std::string seconds_error(std::string_view text) {
  std::vector<double> out;
  std::string error;
  EXPECT_FALSE(parse_duration_buckets(text, out, error)) << text;
  return error;
}

std::vector<std::uint64_t> sizes_of(std::string_view text) {
  std::vector<std::uint64_t> out;
  std::string error;
  EXPECT_TRUE(parse_size_buckets(text, out, error)) << text << ": " << error;
  return out;
}

std::string sizes_error(std::string_view text) {
  std::vector<std::uint64_t> out;
  std::string error;
  EXPECT_FALSE(parse_size_buckets(text, out, error)) << text;
  return error;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST(OptionDurationBuckets, AcceptsPlainSecondsAndDurations) {
  EXPECT_EQ(seconds_of("0.005,0.01,1,2.5"), (std::vector<double>{0.005, 0.01, 1, 2.5}));
  EXPECT_EQ(seconds_of("5ms, 10ms, 1s, 2500ms, 2m"), (std::vector<double>{0.005, 0.01, 1, 2.5, 120}));
  EXPECT_EQ(seconds_of("250ms,0.5,1s"), (std::vector<double>{0.25, 0.5, 1}));
  EXPECT_EQ(seconds_of("0.0005"), (std::vector<double>{0.0005}));
  EXPECT_EQ(seconds_of("10"), (std::vector<double>{10}));  // a bare number is seconds here
}

TEST(OptionDurationBuckets, RejectsUnsortedAndRepeatedBoundsNamingBoth) {
  EXPECT_EQ(seconds_error("0.1,1,0.5"),
            "0.5 is not greater than 1, the bucket before it; buckets must be strictly increasing");
  EXPECT_EQ(seconds_error("1s,1000ms"),
            "1000ms is not greater than 1s, the bucket before it; buckets must be strictly increasing");
}

TEST(OptionDurationBuckets, RejectsZeroNegativeInfinityAndGarbage) {
  EXPECT_EQ(seconds_error("0"), "must be more than 0");
  EXPECT_EQ(seconds_error("0.000"), "must be more than 0");
  EXPECT_EQ(seconds_error("0.1,0ms"), "\"0ms\": must be more than 0");
  EXPECT_TRUE(contains(seconds_error("-1"), "negative"));
  EXPECT_TRUE(contains(seconds_error("+Inf"), "+Inf bucket is always there"));
  EXPECT_TRUE(contains(seconds_error("1,inf"), "+Inf bucket is always there"));
  EXPECT_TRUE(contains(seconds_error("500us"), "plain seconds like 0.0005"));
  EXPECT_TRUE(contains(seconds_error("0.0000001"), "shorter than 1us"));
  EXPECT_TRUE(contains(seconds_error("40000000"), "longer than a year"));
  EXPECT_TRUE(contains(seconds_error("1.5s"), "whole number"));
  for (const char* text : {"", "1,,2", "1,", "1e-3", "1..2", ".5", "fast", "0x10"}) {
    EXPECT_FALSE(seconds_error(text).empty()) << text;
  }
}

TEST(OptionDurationBuckets, FormatsSecondsShortestAndExact) {
  EXPECT_EQ(format_seconds(0.005), "0.005");
  EXPECT_EQ(format_seconds(0.0005), "0.0005");
  EXPECT_EQ(format_seconds(2.5), "2.5");
  EXPECT_EQ(format_seconds(10), "10");
}

TEST(OptionSizeBuckets, AcceptsIncreasingSizesWithUnits) {
  EXPECT_EQ(sizes_of("0,64,1KiB, 1MiB"), (std::vector<std::uint64_t>{0, 64, 1024, 1 << 20}));
}

TEST(OptionSizeBuckets, RejectsUnsortedRepeatedAndBadSizes) {
  EXPECT_EQ(sizes_error("1KiB,1024"),
            "1024 is not greater than 1KiB, the bucket before it; buckets must be strictly increasing");
  EXPECT_EQ(sizes_error("64,16k"),
            "\"16k\": unknown unit \"k\": use B, KiB, MiB or GiB, or bytes without a unit");
  EXPECT_TRUE(contains(sizes_error("-1"), "negative"));
  EXPECT_TRUE(contains(sizes_error(""), "empty"));
  EXPECT_TRUE(contains(sizes_error("1,,2"), "empty entry"));
}

TEST(OptionClosestMatch, SuggestsOnlyNearCandidates) {
  constexpr std::string_view candidates[] = {"listen", "admin", "upstreams", "client_header"};
  EXPECT_EQ(closest_match("listn", candidates), "listen");
  EXPECT_EQ(closest_match("upstream", candidates), "upstreams");
  EXPECT_EQ(closest_match("client-header", candidates), "client_header");
  EXPECT_EQ(closest_match("zzz", candidates), "");
  EXPECT_EQ(closest_match("routes", candidates), "");
}

TEST(Options, HttpUrlsNeedHttpOrHttpsAndGiveHostPortAndPath) {
  HttpUrl url;
  std::string error;
  ASSERT_TRUE(parse_http_url("http://otel-collector:4318/v1/traces", url, error)) << error;
  EXPECT_EQ(url.host, "otel-collector");
  EXPECT_EQ(url.port, 4318);
  EXPECT_EQ(url.path, "/v1/traces");
  ASSERT_TRUE(parse_http_url("http://10.0.0.1", url, error)) << error;
  EXPECT_EQ(url.port, 80);
  EXPECT_EQ(url.path, "/");
  EXPECT_FALSE(url.tls);
  ASSERT_TRUE(parse_http_url("https://collector.example/v1/traces", url, error)) << error;
  EXPECT_TRUE(url.tls);
  EXPECT_EQ(url.host, "collector.example");
  EXPECT_EQ(url.port, 443) << "https defaults to 443";
  ASSERT_TRUE(parse_http_url("https://collector:4318/", url, error)) << error;
  EXPECT_EQ(url.port, 4318);
  EXPECT_FALSE(parse_http_url("ftp://collector/", url, error));
  EXPECT_NE(error.find("https://"), std::string::npos) << error;
  EXPECT_FALSE(parse_http_url("collector:4318", url, error));
  EXPECT_FALSE(parse_http_url("http://user:pw@collector/", url, error));
  EXPECT_FALSE(parse_http_url("http://collector:99999/", url, error));
  EXPECT_FALSE(parse_http_url("http://collector/a b", url, error));
}

TEST(Options, KeyValueListsArePercentDecodedAndHeaderNamesChecked) {
  std::vector<std::pair<std::string, std::string>> kv;
  std::string error;
  ASSERT_TRUE(parse_key_values(" authorization = Bearer%20x%2Cy , x-tenant=shop", true, kv, error)) << error;
  ASSERT_EQ(kv.size(), 2u);
  EXPECT_EQ(kv[0].first, "authorization");
  EXPECT_EQ(kv[0].second, "Bearer x,y");
  EXPECT_EQ(kv[1].second, "shop");
  EXPECT_FALSE(parse_key_values("novalue", false, kv, error));
  EXPECT_FALSE(parse_key_values("=x", false, kv, error));
  EXPECT_FALSE(parse_key_values("a=%zz", false, kv, error));
  EXPECT_FALSE(parse_key_values("a=%2", false, kv, error));
  EXPECT_FALSE(parse_key_values("bad name=x", true, kv, error));
  EXPECT_FALSE(parse_key_values("x=a%0Db", true, kv, error));  // CR in a header value
  EXPECT_TRUE(parse_key_values("deployment.environment=prod", false, kv, error));
}

TEST(Options, RatiosAreBetweenZeroAndOne) {
  double r = -1;
  std::string error;
  EXPECT_TRUE(parse_ratio("0.01", r, error));
  EXPECT_DOUBLE_EQ(r, 0.01);
  EXPECT_TRUE(parse_ratio("1", r, error));
  EXPECT_FALSE(parse_ratio("1.5", r, error));
  EXPECT_FALSE(parse_ratio("-0.1", r, error));
  EXPECT_FALSE(parse_ratio("half", r, error));
  EXPECT_FALSE(parse_ratio("", r, error));
}

}  // namespace
}  // namespace apimeter
