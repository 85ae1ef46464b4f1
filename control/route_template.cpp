// Parsing and matching of route patterns. Parsing runs at config load and may allocate; matches() and
// covers() must stay allocation-free and noexcept because the router calls them per request.
#include "control/route_template.hpp"

#include <algorithm>
#include <cstdio>

namespace apimeter {
namespace {

bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 3986 pchar, minus '%' which check_characters() handles with its two hex digits.
bool is_pchar(char c) noexcept {
  constexpr std::string_view kSymbols =
      "-._~"         // unreserved
      "!$&'()*+,;="  // sub-delims
      ":@";
  return is_alpha(c) || is_digit(c) || kSymbols.find(c) != std::string_view::npos;
}

std::string describe(char c) {
  if (c == ' ') return "space";
  if (c > ' ' && c < 0x7f) return std::string("'") + c + "'";
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%02X", static_cast<unsigned char>(c));
  return buffer;
}

// The rules all three kinds share. `braces_allowed` lets a template through to its own brace rules.
bool check_characters(std::string_view text, bool braces_allowed, std::string& error) {
  if (text.empty() || text.front() != '/') {
    error = "must start with /";
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '?' || c == '#') {
      error = std::string("must not contain ") + c + " (only the path is matched, never the query)";
      return false;
    }
    if (c == '{' || c == '}') {
      if (braces_allowed) continue;
      error = "must not contain { or } (only a template has variables)";
      return false;
    }
    if (c == '%') {
      if (i + 2 >= text.size() || !is_hex(text[i + 1]) || !is_hex(text[i + 2])) {
        error = "% must be followed by two hex digits";
        return false;
      }
      i += 2;
      continue;
    }
    if (c != '/' && !is_pchar(c)) {
      error = "character " + describe(c) + " is not allowed in a path (percent-encode it)";
      return false;
    }
  }
  if (text.back() == '*') {
    error = "patterns are matched literally, not as globs: drop the trailing * (use prefix: for a subtree)";
    return false;
  }
  return true;
}

bool valid_variable_name(std::string_view name) noexcept {
  if (name.empty() || !(is_alpha(name.front()) || name.front() == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return is_alpha(c) || is_digit(c) || c == '_'; });
}

}  // namespace

std::optional<RouteTemplate> RouteTemplate::parse(std::string_view text, std::string& error) {
  if (!check_characters(text, /*braces_allowed=*/true, error)) return std::nullopt;
  RouteTemplate result;
  result.text_ = std::string(text);
  std::string_view rest = text.substr(1);
  if (!rest.empty() && rest.back() == '/') {
    result.trailing_slash_ = true;
    rest.remove_suffix(1);
    if (rest.empty()) {
      error = "empty segment (//); only one trailing / is allowed";
      return std::nullopt;
    }
  }
  // "/" alone has no segments; anything else is split on '/' and every piece must be non-empty.
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    const std::string_view piece = rest.substr(0, slash);
    if (piece.empty() || slash + 1 == rest.size()) {
      error = "empty segment (//); only one trailing / is allowed";
      return std::nullopt;
    }
    Segment segment;
    if (piece.find_first_of("{}") != std::string_view::npos) {
      const std::string_view name =
          piece.size() >= 2 ? piece.substr(1, piece.size() - 2) : std::string_view{};
      if (piece.size() < 2 || piece.front() != '{' || piece.back() != '}' ||
          name.find_first_of("{}") != std::string_view::npos) {
        error = "a variable must be a whole segment, like /{id}/, not \"" + std::string(piece) + "\"";
        return std::nullopt;
      }
      if (!valid_variable_name(name)) {
        error = "variable name \"" + std::string(name) + "\" must match [A-Za-z_][A-Za-z0-9_]*";
        return std::nullopt;
      }
      const bool duplicate = std::any_of(result.segments_.begin(), result.segments_.end(),
                                         [&](const Segment& s) { return s.variable && s.text == name; });
      if (duplicate) {
        error = "variable {" + std::string(name) + "} appears twice";
        return std::nullopt;
      }
      segment.variable = true;
      segment.text = std::string(name);
    } else {
      segment.text = std::string(piece);
    }
    result.segments_.push_back(std::move(segment));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return result;
}

bool RouteTemplate::matches(std::string_view path) const noexcept {
  if (path.empty() || path.front() != '/') return false;
  if (segments_.empty()) return path.size() == 1;
  std::size_t position = 1;  // start of the current path segment
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    if (position > path.size()) return false;  // the path ran out of segments
    std::size_t end = path.find('/', position);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view piece = path.substr(position, end - position);
    const Segment& segment = segments_[i];
    if (segment.variable ? piece.empty() : piece != segment.text) return false;
    position = end + 1;
  }
  // `position` is one past the end of the last matched segment: the path ends there, or has one '/' more.
  if (position == path.size() + 1) return true;
  return position == path.size() && trailing_slash_;
}

bool RouteTemplate::covers(const RouteTemplate& other) const noexcept {
  if (segments_.size() != other.segments_.size()) return false;
  if (other.trailing_slash_ && !trailing_slash_) return false;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    const Segment& mine = segments_[i];
    const Segment& theirs = other.segments_[i];
    if (mine.variable) continue;  // literal segments are never empty, so a variable takes them all
    if (theirs.variable || mine.text != theirs.text) return false;
  }
  return true;
}

std::string_view RouteTemplate::literal_prefix() const noexcept {
  return std::string_view(text_).substr(0, text_.find('{'));
}

bool check_exact_path(std::string_view path, std::string& error) {
  return check_characters(path, /*braces_allowed=*/false, error);
}

bool check_prefix(std::string_view prefix, std::string& error) {
  return check_characters(prefix, /*braces_allowed=*/false, error);
}

}  // namespace apimeter
