// Identity extraction (see user_identity.hpp): base64url, a minimal bounded JSON scanner for one top-level
// claim, cookie parsing, API-key hashing. Runs on the request path: no allocation, no exceptions.
#include "metrics/user_identity.hpp"

#include <cstring>

#include "common/http_text.hpp"

namespace apimeter::metrics {
namespace {


int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-' || c == '+') return 62;
  if (c == '_' || c == '/') return 63;
  return -1;
}

// A JSON scanner over a mutable buffer, with a depth bound so hostile nesting cannot recurse deeply.
class JsonScanner {
 public:
  explicit JsonScanner(std::span<char> s) noexcept : s_(s) {}

  void skip_ws() noexcept {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool consume(char c) noexcept {
    skip_ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool peek(char c) noexcept {
    skip_ws();
    return i_ < s_.size() && s_[i_] == c;
  }
  // The raw (still escaped) contents of a string; the cursor ends after the closing quote.
  bool raw_string(std::size_t& begin, std::size_t& end) noexcept {
    if (!consume('"')) return false;
    begin = i_;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '\\') {
        if (i_ + 1 >= s_.size()) return false;
        const char e = s_[i_ + 1];
        if (e == 'u') {
          if (i_ + 5 >= s_.size()) return false;
          for (std::size_t k = i_ + 2; k < i_ + 6; ++k)
            if (std::strchr("0123456789abcdefABCDEF", s_[k]) == nullptr || s_[k] == '\0') return false;
          i_ += 6;
          continue;
        }
        if (std::strchr("\"\\/bfnrt", e) == nullptr || e == '\0') return false;
        i_ += 2;
        continue;
      }
      if (c == '"') {
        end = i_++;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return false;
      ++i_;
    }
    return false;
  }
  bool number(std::size_t& begin, std::size_t& end) noexcept {
    skip_ws();
    begin = i_;
    while (i_ < s_.size() && (std::strchr("+-0123456789.eE", s_[i_]) != nullptr) && s_[i_] != '\0') ++i_;
    end = i_;
    return end > begin;
  }
  bool skip_value(int depth) noexcept {
    if (depth > 32) return false;
    skip_ws();
    if (i_ >= s_.size()) return false;
    std::size_t b, e;
    char c = s_[i_];
    if (c == '"') return raw_string(b, e);
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++i_;
      if (consume(close)) return true;
      do {
        if (c == '{' && (!raw_string(b, e) || !consume(':'))) return false;
        if (!skip_value(depth + 1)) return false;
      } while (consume(','));
      return consume(close);
    }
    for (std::string_view word : {"true", "false", "null"}) {
      if (std::string_view(s_.data() + i_, s_.size() - i_).starts_with(word)) {
        i_ += word.size();
        return true;
      }
    }
    return number(b, e);
  }

  bool at_end() noexcept {
    skip_ws();
    return i_ >= s_.size();
  }

 private:
  std::span<char> s_;
  std::size_t i_ = 0;
};

void put_utf8(char*& out, unsigned cp) noexcept {
  if (cp < 0x80) {
    *out++ = static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out++ = static_cast<char>(0xc0 | (cp >> 6));
    *out++ = static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    *out++ = static_cast<char>(0xe0 | (cp >> 12));
    *out++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    *out++ = static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    *out++ = static_cast<char>(0xf0 | (cp >> 18));
    *out++ = static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    *out++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    *out++ = static_cast<char>(0x80 | (cp & 0x3f));
  }
}

bool hex4(const char* p, unsigned& v) noexcept {
  v = 0;
  for (int k = 0; k < 4; ++k) {
    char c = p[k];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
    else return false;
  }
  return true;
}

// Unescapes [begin, end) in place; output never outruns input. Empty view on a bad escape.
std::string_view unescape_in_place(std::span<char> buf, std::size_t begin, std::size_t end) noexcept {
  char* out = buf.data() + begin;
  for (std::size_t i = begin; i < end; ++i) {
    char c = buf[i];
    if (c != '\\') {
      *out++ = c;
      continue;
    }
    if (++i >= end) return {};
    switch (buf[i]) {
      case '"': *out++ = '"'; break;
      case '\\': *out++ = '\\'; break;
      case '/': *out++ = '/'; break;
      case 'b': *out++ = '\b'; break;
      case 'f': *out++ = '\f'; break;
      case 'n': *out++ = '\n'; break;
      case 'r': *out++ = '\r'; break;
      case 't': *out++ = '\t'; break;
      case 'u': {
        unsigned cp;
        if (end - i < 5 || !hex4(buf.data() + i + 1, cp)) return {};
        i += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && end - i >= 7 && buf[i + 1] == '\\' && buf[i + 2] == 'u') {
          unsigned low;
          if (hex4(buf.data() + i + 3, low) && low >= 0xdc00 && low < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            i += 6;
          }
        }
        if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd;  // lone surrogate
        put_utf8(out, cp);
        break;
      }
      default:
        return {};
    }
  }
  return {buf.data() + begin, static_cast<std::size_t>(out - (buf.data() + begin))};
}

std::string_view jwt_user(std::string_view authorization, std::string_view claim, std::span<char> scratch) noexcept {
  authorization = trim_ows(authorization);
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() || !iequals(authorization.substr(0, kScheme.size()), kScheme) ||
      (authorization[kScheme.size()] != ' ' && authorization[kScheme.size()] != '\t'))
    return {};
  std::string_view token = trim_ows(authorization.substr(kScheme.size()));
  // JWS compact serialization: header.payload.signature (the signature may be empty, alg "none").
  std::size_t first = token.find('.');
  if (first == std::string_view::npos) return {};
  std::size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) return {};
  std::string_view payload = token.substr(first + 1, second - first - 1);
  if (payload.empty()) return {};
  auto length = base64url_decode(payload, scratch);
  if (!length) return {};
  return json_claim(scratch.first(*length), claim);
}

}  // namespace

std::optional<std::size_t> base64url_decode(std::string_view in, std::span<char> out) noexcept {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  const std::size_t needed = in.size() / 4 * 3 + (in.size() % 4 == 0 ? 0 : in.size() % 4 - 1);
  if (needed > out.size()) return std::nullopt;
  std::size_t o = 0;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = base64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return o;
}

std::string_view json_claim(std::span<char> json, std::string_view claim) noexcept {
  JsonScanner p(json);
  if (!p.consume('{')) return {};
  if (p.consume('}')) return {};
  // The whole object must be well-formed: a truncated or corrupted payload gives no identity, even when
  // the claim itself came before the damage.
  std::size_t vb = 0, ve = 0;
  bool found = false, is_string = false;
  do {
    std::size_t kb, ke;
    if (!p.raw_string(kb, ke) || !p.consume(':')) return {};
    // Keys with escapes never match: claim names are plain ASCII.
    if (!found && std::string_view(json.data() + kb, ke - kb) == claim) {
      if (p.peek('"')) {
        if (!p.raw_string(vb, ve)) return {};
        found = is_string = true;
        continue;
      }
      if (p.peek('{') || p.peek('[') || p.peek('t') || p.peek('f') || p.peek('n')) return {};
      if (!p.number(vb, ve)) return {};
      found = true;
      continue;
    }
    if (!p.skip_value(0)) return {};
  } while (p.consume(','));
  if (!p.consume('}') || !p.at_end() || !found) return {};
  if (is_string) return unescape_in_place(json, vb, ve);
  return {json.data() + vb, ve - vb};
}

std::string_view cookie_value(std::string_view header, std::string_view name) noexcept {
  while (!header.empty()) {
    std::size_t semi = header.find(';');
    std::string_view pair = trim_ows(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || trim_ows(pair.substr(0, eq)) != name) continue;
    std::string_view value = trim_ows(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    return value;
  }
  return {};
}

std::string_view extract_user(const UserIdentitySource& source, HeaderLookup headers,
                              const PeerIdentity& peer, std::span<char> scratch) noexcept {
  using Kind = UserIdentitySource::Kind;
  switch (source.kind) {
    case Kind::none:
      return {};
    case Kind::header:
      return trim_ows(headers(source.name));
    case Kind::client_address:
      return peer.address;
    case Kind::client_certificate:
      return peer.certificate_subject;
    case Kind::cookie:
      return cookie_value(headers("Cookie"), source.name);
    case Kind::jwt_claim:
      return jwt_user(headers("Authorization"), source.name, scratch);
    case Kind::api_key_header: {
      std::string_view key = trim_ows(headers(source.name));
      if (key.empty() || scratch.size() < 20) return {};
      std::memcpy(scratch.data(), "key_", 4);
      write_hex64(siphash24(key, source.api_key_hash_key), std::span<char, 16>(scratch.data() + 4, 16));
      return {scratch.data(), 20};
    }
  }
  return {};
}

}  // namespace apimeter::metrics
