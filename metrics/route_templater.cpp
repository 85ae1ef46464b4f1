// Segment classification and path templating (see route_templater.hpp). Runs on the request path for
// unmatched requests only: one pass per segment, no allocation, bounded by kMaxTemplatedPathBytes.
#include "metrics/route_templater.hpp"

#include <cstring>

namespace apimeter::metrics {
namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_lower(char c) noexcept { return c >= 'a' && c <= 'z'; }
bool is_upper(char c) noexcept { return c >= 'A' && c <= 'Z'; }
bool is_alpha(char c) noexcept { return is_lower(c) || is_upper(c); }
bool is_hex(char c) noexcept { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// RFC 3986 pchar without the percent-encoding check (done separately).
bool is_pchar(char c) noexcept {
  if (is_alpha(c) || is_digit(c)) return true;
  switch (c) {
    case '-': case '.': case '_': case '~':                                  // unreserved
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*':  // sub-delims
    case '+': case ',': case ';': case '=':
    case ':': case '@': case '%':
      return true;
    default:
      return false;
  }
}

bool valid_pchars(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!is_pchar(s[i])) return false;
    if (s[i] == '%' && (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])))
      return false;
  }
  return true;
}

bool all_digits(std::string_view s) noexcept {
  for (char c : s)
    if (!is_digit(c)) return false;
  return !s.empty();
}

bool is_number(std::string_view s) noexcept {
  if (all_digits(s)) return true;
  auto dot = s.find('.');
  return dot != std::string_view::npos && all_digits(s.substr(0, dot)) && all_digits(s.substr(dot + 1));
}

bool has_digit_run(std::string_view s, std::size_t run) noexcept {
  std::size_t n = 0;
  for (char c : s) {
    n = is_digit(c) ? n + 1 : 0;
    if (n >= run) return true;
  }
  return false;
}

bool is_uuid(std::string_view s) noexcept {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

int two_digits(std::string_view s, std::size_t at) noexcept { return (s[at] - '0') * 10 + (s[at + 1] - '0'); }

bool is_date(std::string_view s) noexcept {
  if (s.size() < 10) return false;
  for (std::size_t i = 0; i < 10; ++i) {
    bool dash = i == 4 || i == 7;
    if (dash ? s[i] != '-' : !is_digit(s[i])) return false;
  }
  int month = two_digits(s, 5), day = two_digits(s, 8);
  if (month < 1 || month > 12 || day < 1 || day > 31) return false;
  if (s.size() == 10) return true;
  if (s[10] != 'T' && s[10] != 't') return false;
  // A time of day, possibly with an offset or percent-encoded ':' ("%3A").
  for (char c : s.substr(11))
    if (!(is_hex(c) || c == ':' || c == '.' || c == '+' || c == '-' || c == 'Z' || c == 'z' || c == '%'))
      return false;
  return true;
}

bool is_email(std::string_view s) noexcept {
  std::size_t at = s.find('@');
  std::size_t skip = 1;
  if (at == std::string_view::npos) {
    at = s.find("%40");
    skip = 3;
  }
  if (at == std::string_view::npos || at == 0) return false;
  std::string_view domain = s.substr(at + skip);
  std::size_t dot = domain.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= domain.size()) return false;
  for (char c : domain)
    if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '.')) return false;
  return true;
}

bool is_hex_id(std::string_view s) noexcept {
  if (s.size() < kMinHexBytes) return false;
  bool digit = false;
  for (char c : s) {
    if (!is_hex(c)) return false;
    digit = digit || is_digit(c);
  }
  return digit;
}

// Random-looking base64/base64url: character classes (digit, upper, lower) change at least once every four
// characters on average. Words, slugs ("getting-started-guide") and CamelCase names change far less often.
bool is_token(std::string_view s) noexcept {
  if (s.size() < kMinTokenBytes) return false;
  int prev = -1;
  std::size_t changes = 0;
  for (char c : s) {
    int cls;
    if (is_digit(c)) cls = 0;
    else if (is_upper(c)) cls = 1;
    else if (is_lower(c)) cls = 2;
    else if (c == '-' || c == '_' || c == '.' || c == '~' || c == '+' || c == '=') continue;
    else return false;
    if (prev >= 0 && cls != prev) ++changes;
    prev = cls;
  }
  return changes * 4 >= s.size();
}

struct Writer {
  TemplateBuffer& out;
  std::size_t size = 0;
  bool append(std::string_view s) noexcept {
    if (s.size() > out.size() - size) return false;
    std::memcpy(out.data() + size, s.data(), s.size());
    size += s.size();
    return true;
  }
};

}  // namespace

SegmentKind classify_segment(std::string_view s) noexcept {
  if (s.empty()) return SegmentKind::literal;
  if (s.size() > kLongSegmentBytes) return SegmentKind::token;
  if (is_number(s)) return SegmentKind::id;
  if (is_uuid(s)) return SegmentKind::uuid;
  if (is_date(s)) return SegmentKind::date;
  if (!valid_pchars(s)) return SegmentKind::token;
  if (is_email(s)) return SegmentKind::email;
  if (is_hex_id(s)) return SegmentKind::hex;
  if (is_token(s)) return SegmentKind::token;
  if (has_digit_run(s, 4)) return SegmentKind::id;
  return SegmentKind::literal;
}

std::string_view placeholder(SegmentKind kind) noexcept {
  switch (kind) {
    case SegmentKind::literal: return {};
    case SegmentKind::id: return "{id}";
    case SegmentKind::uuid: return "{uuid}";
    case SegmentKind::date: return "{date}";
    case SegmentKind::email: return "{email}";
    case SegmentKind::hex: return "{hex}";
    case SegmentKind::token: return "{token}";
  }
  return {};
}

std::string_view template_path(std::string_view path, TemplateBuffer& out) noexcept {
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  if (path.empty() || path.front() != '/' || path.size() > kMaxTemplatedPathBytes) return {};
  Writer w{out};
  std::size_t segments = 0;
  std::size_t pos = 1;  // after the leading '/'
  while (true) {
    std::size_t end = path.find('/', pos);
    std::string_view segment = path.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (++segments > kMaxTemplateSegments) return {};
    SegmentKind kind = classify_segment(segment);
    if (!w.append("/") || !w.append(kind == SegmentKind::literal ? segment : placeholder(kind))) return {};
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return {out.data(), w.size};
}

}  // namespace apimeter::metrics
