// Route patterns: parsing and checking a path template ("/api/orders/{id}"), exact path or prefix, and
// matching a request path against a template. matches() is on the request path: it never allocates or
// throws. No routing decisions here (router.hpp orders the routes).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace apimeter {

// Rules, shared by all three kinds: starts with '/'; characters are RFC 3986 pchar or '/'; '%' is followed
// by two hex digits; no '?' or '#' (the query is never part of what we match); no trailing '*' (patterns are
// not globs). A template also: each variable "{name}" is a whole segment, names are [A-Za-z_][A-Za-z0-9_]*
// and unique, no other '{' or '}', no empty segment except one trailing '/'.
class RouteTemplate {
 public:
  struct Segment {
    bool variable = false;  // true: matches exactly one non-empty segment
    std::string text;       // the literal, or the variable's name without braces
  };

  // The parsed template, or nullopt with the reason in `error`. Called while loading config only.
  static std::optional<RouteTemplate> parse(std::string_view text, std::string& error);

  // Whether `path` (the request path without query, not percent-decoded) has this template's shape.
  // A trailing '/' in the path must not be there unless the template ends with '/', which makes it
  // optional: "/a/{id}" matches "/a/1" only; "/a/{id}/" matches "/a/1/" and "/a/1".
  bool matches(std::string_view path) const noexcept;

  // True when every path `other` matches is matched by this one too (used to find shadowed routes).
  bool covers(const RouteTemplate& other) const noexcept;

  const std::string& text() const noexcept { return text_; }
  const std::vector<Segment>& segments() const noexcept { return segments_; }
  bool trailing_slash() const noexcept { return trailing_slash_; }
  // Text before the first variable: "/api/orders/" for "/api/orders/{id}"; all of it when there is none.
  std::string_view literal_prefix() const noexcept;

 private:
  std::string text_;
  std::vector<Segment> segments_;
  bool trailing_slash_ = false;
};

// The same character rules for the other two kinds; an exact path also may not contain '{' or '}'.
bool check_exact_path(std::string_view path, std::string& error);
bool check_prefix(std::string_view prefix, std::string& error);

}  // namespace apimeter
