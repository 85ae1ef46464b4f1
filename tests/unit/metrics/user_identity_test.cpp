// User identity extraction: headers, JWT claims (base64url, padding, malformed tokens), hashed API keys,
// cookies and client addresses.
#include "metrics/user_identity.hpp"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <string>

namespace apimeter::metrics {
namespace {

std::string b64url(std::string_view in, bool pad = false) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    if (pad) out += "=";
  }
  return out;
}

std::string bearer(std::string_view payload_json, bool pad = false) {
  return "Bearer " + b64url(R"({"alg":"HS256","typ":"JWT"})") + "." + b64url(payload_json, pad) + ".c2lnbmF0dXJl";
}

struct Headers {
  std::map<std::string, std::string, std::less<>> values;
  std::string_view operator()(std::string_view name) const {
    auto it = values.find(name);
    return it == values.end() ? std::string_view{} : std::string_view(it->second);
  }
};

std::string user_of(const UserIdentitySource& source, const Headers& headers,
                    std::string_view client = "10.0.0.1",
                    std::string_view certificate_subject = "CN=crm,O=Acme") {
  std::array<char, kUserScratchBytes> scratch;
  return std::string(extract_user(source, headers, PeerIdentity{client, certificate_subject}, scratch));
}

UserIdentitySource jwt(std::string claim = "sub") { return {UserIdentitySource::Kind::jwt_claim, std::move(claim)}; }

TEST(UserIdentity, HeaderValueIsTrimmed) {
  Headers h{{{"X-User-Id", "  alice \t"}}};
  EXPECT_EQ(user_of({UserIdentitySource::Kind::header, "X-User-Id"}, h), "alice");
  EXPECT_EQ(user_of({UserIdentitySource::Kind::header, "X-Other"}, h), "");
  EXPECT_EQ(user_of({}, h), "");
}

TEST(UserIdentity, JwtClaimIsDecodedFromBase64UrlWithOrWithoutPadding) {
  // "user-1?" has bytes that encode to '-' and '_' in base64url.
  Headers h{{{"Authorization", bearer(R"({"sub":"user-1?>","name":"Alice"})")}}};
  EXPECT_EQ(user_of(jwt(), h), "user-1?>");
  EXPECT_EQ(user_of(jwt("name"), h), "Alice");
  Headers padded{{{"Authorization", bearer(R"({"sub":"ab"})", true)}}};
  EXPECT_EQ(user_of(jwt(), padded), "ab");
  Headers lower{{{"Authorization", "bearer " + bearer(R"({"sub":"x"})").substr(7)}}};
  EXPECT_EQ(user_of(jwt(), lower), "x");
}

TEST(UserIdentity, JwtClaimValuesCanBeNumbersOrEscapedStrings) {
  EXPECT_EQ(user_of(jwt(), Headers{{{"Authorization", bearer(R"({"sub":12345})")}}}), "12345");
  EXPECT_EQ(user_of(jwt(), Headers{{{"Authorization", bearer(R"({"sub":"a\"b\\c\u00e9"})")}}}), "a\"b\\c\xc3\xa9");
  EXPECT_EQ(user_of(jwt(), Headers{{{"Authorization", bearer(R"({"obj":{"sub":"inner"},"list":[1,"x",{"a":null}],"sub":"outer"})")}}}), "outer");
}

TEST(UserIdentity, MalformedTokensGiveNoIdentity) {
  auto none = [](std::string auth) { return user_of(jwt(), Headers{{{"Authorization", std::move(auth)}}}); };
  EXPECT_EQ(none("Basic dXNlcjpwYXNz"), "");
  EXPECT_EQ(none("Bearer"), "");
  EXPECT_EQ(none("Bearer onlyonepart"), "");
  EXPECT_EQ(none("Bearer a.b.c.d"), "");
  EXPECT_EQ(none("Bearer a..c"), "");
  EXPECT_EQ(none("Bearer a.!!!!.c"), "");                    // not base64
  EXPECT_EQ(none("Bearer a." + b64url("not json") + ".c"), "");
  EXPECT_EQ(none("Bearer a." + b64url(R"({"sub":"x")") + ".c"), "");  // truncated after the claim
  EXPECT_EQ(none("Bearer a." + b64url(R"({"sub":"x"} trailing)") + ".c"), "");
  EXPECT_EQ(none("Bearer a." + b64url(R"({"sub":{"id":1}})") + ".c"), "");  // not a string or number
  EXPECT_EQ(none("Bearer a." + b64url(R"({"other":"x"})") + ".c"), "");
  EXPECT_EQ(none("Bearer a." + b64url(R"({"a":"\q","sub":"x"})") + ".c"), "");  // bad escape elsewhere
  EXPECT_EQ(none("Bearer a." + b64url(R"(["sub","x"])") + ".c"), "");
  EXPECT_EQ(none("Bearer a." + b64url(std::string(4000, '{')) + ".c"), "");  // larger than the scratch
  EXPECT_EQ(none("Bearer a." + b64url(R"({"a":)" + std::string(1000, '[')) + ".c"), "");  // nesting bound
  EXPECT_EQ(none("Bearer a." + b64url(R"({"sub":"\ud83d\ude00"})") + ".c"), "\xf0\x9f\x98\x80");
}

TEST(UserIdentity, ApiKeysAreHashedNeverRaw) {
  UserIdentitySource source{UserIdentitySource::Kind::api_key_header, "X-Api-Key"};
  const std::string raw = "sk_live_51Hxyz0123456789";
  const std::string a = user_of(source, Headers{{{"X-Api-Key", raw}}});
  ASSERT_EQ(a.size(), 20u);
  EXPECT_TRUE(a.starts_with("key_"));
  EXPECT_EQ(a.find("sk_live"), std::string::npos);
  EXPECT_EQ(user_of(source, Headers{{{"X-Api-Key", raw}}}), a);
  EXPECT_NE(user_of(source, Headers{{{"X-Api-Key", raw + "x"}}}), a);
  source.api_key_hash_key = SipKey::from_secret("operator secret");
  EXPECT_NE(user_of(source, Headers{{{"X-Api-Key", raw}}}), a);
  EXPECT_EQ(user_of(source, Headers{}), "");
}

TEST(UserIdentity, CookieAndClientAddress) {
  UserIdentitySource cookie{UserIdentitySource::Kind::cookie, "session"};
  EXPECT_EQ(user_of(cookie, Headers{{{"Cookie", "a=1; session=abc123 ; b=2"}}}), "abc123");
  EXPECT_EQ(user_of(cookie, Headers{{{"Cookie", "session=\"quoted\""}}}), "quoted");
  EXPECT_EQ(user_of(cookie, Headers{{{"Cookie", "sessionx=1; xsession=2"}}}), "");
  EXPECT_EQ(user_of({UserIdentitySource::Kind::client_address, ""}, Headers{}, "192.0.2.7"), "192.0.2.7");
  // The certificate subject, and nothing (not the address) for a client that presented none.
  EXPECT_EQ(user_of({UserIdentitySource::Kind::client_certificate, ""}, Headers{}, "192.0.2.7"),
            "CN=crm,O=Acme");
  EXPECT_EQ(user_of({UserIdentitySource::Kind::client_certificate, ""}, Headers{}, "192.0.2.7", ""), "");
}

TEST(UserIdentity, Base64UrlDecodingAcceptsBothAlphabetsAndRejectsGarbage) {
  std::array<char, 16> out;
  auto n = base64url_decode("aGk", out);  // "hi"
  ASSERT_TRUE(n);
  EXPECT_EQ(std::string_view(out.data(), *n), "hi");
  n = base64url_decode("-_8=", out);
  ASSERT_TRUE(n);
  EXPECT_EQ(std::string_view(out.data(), *n), "\xfb\xff");
  n = base64url_decode("+/8", out);
  ASSERT_TRUE(n);
  EXPECT_EQ(std::string_view(out.data(), *n), "\xfb\xff");
  EXPECT_FALSE(base64url_decode("a", out));
  EXPECT_FALSE(base64url_decode("a=bc", out));
  EXPECT_FALSE(base64url_decode("aGk*", out));
  EXPECT_FALSE(base64url_decode(std::string(40, 'A'), out));  // does not fit
}

}  // namespace
}  // namespace apimeter::metrics
