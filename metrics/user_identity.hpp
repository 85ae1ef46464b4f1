// Who sent a request, from the configured source: a header, a claim of an `Authorization: Bearer` JWT
// (decoded, never verified: apimeter only observes), a hashed API-key header, a cookie, or the client
// address. Pure and allocation-free: it reads headers through a callable and writes into caller scratch.
// Malformed input of any kind gives "no identity", never an error.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "metrics/hash.hpp"

namespace apimeter::metrics {

struct UserIdentitySource {
  enum class Kind { none, header, jwt_claim, api_key_header, cookie, client_address, client_certificate };
  Kind kind = Kind::none;
  // The header name (header, api_key_header), the claim name (jwt_claim, e.g. "sub"), or the cookie name.
  std::string name;
  // Key for hashing API keys, so the raw key never reaches a label (default: fixed, stable across restarts).
  SipKey api_key_hash_key{};
};

// A non-owning reference to a callable `std::string_view(std::string_view header_name)` returning the
// header's value, or an empty view when absent. Cheap to copy; the callable must outlive the call.
class HeaderLookup {
 public:
  template <typename F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, HeaderLookup> &&
             std::is_invocable_r_v<std::string_view, const F&, std::string_view>)
  HeaderLookup(const F& f) noexcept  // NOLINT: implicit on purpose, lambdas pass straight in
      : object_(&f), call_([](const void* o, std::string_view name) -> std::string_view {
          return (*static_cast<const F*>(o))(name);
        }) {}
  std::string_view operator()(std::string_view name) const { return call_(object_, name); }

 private:
  const void* object_;
  std::string_view (*call_)(const void*, std::string_view);
};

// What the connection knows of its peer: its address, and the subject of the certificate it presented over
// TLS (RFC 2253, "CN=crm,O=Acme"; empty without one).
struct PeerIdentity {
  std::string_view address;
  std::string_view certificate_subject;
};

// Scratch needed by extract_user: a decoded JWT payload larger than the scratch gives no identity.
inline constexpr std::size_t kUserScratchBytes = 2048;

// The identity of the request, or an empty view. The result points into a header value, `peer` or
// `scratch`, so it is valid as long as those are. API keys come out as "key_" + 16 hex digits.
std::string_view extract_user(const UserIdentitySource& source, HeaderLookup headers,
                              const PeerIdentity& peer, std::span<char> scratch) noexcept;

// Building blocks, exposed for tests and for other observe-only uses.
// Decodes base64url (also accepts the standard alphabet and optional '=' padding); nullopt when malformed
// or when `out` is too small.
std::optional<std::size_t> base64url_decode(std::string_view in, std::span<char> out) noexcept;
// The value of top-level `claim` in the JSON object held in `json` (a mutable buffer: strings are unescaped
// in place). Strings and numbers qualify; anything else, or malformed JSON, gives an empty view.
std::string_view json_claim(std::span<char> json, std::string_view claim) noexcept;
// The value of cookie `name` in a Cookie header ("a=1; b=2"), without surrounding quotes.
std::string_view cookie_value(std::string_view cookie_header, std::string_view name) noexcept;

}  // namespace apimeter::metrics
