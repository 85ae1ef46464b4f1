// Small text rules of HTTP shared by every parser of header values (proxy heads, Accept negotiation,
// Authorization and Cookie parsing): ASCII case-insensitive comparison, OWS trimming, list elements.
// Pure and allocation-free.
#pragma once

#include <cstddef>
#include <string_view>

namespace apimeter {

constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// `text` contains `part` (lower case), ASCII case-insensitively.
constexpr bool icontains(std::string_view text, std::string_view part) noexcept {
  if (part.size() > text.size()) return false;
  for (std::size_t i = 0; i + part.size() <= text.size(); ++i) {
    std::size_t k = 0;
    while (k < part.size() && ascii_lower(text[i + k]) == part[k]) ++k;
    if (k == part.size()) return true;
  }
  return false;
}

// Optional whitespace (SP / HTAB) removed from both ends.
constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls fn(element) for every element of a comma-separated list, OWS trimmed, empty elements skipped.
template <typename Fn>
constexpr void for_each_list_token(std::string_view list, Fn&& fn) {
  std::size_t pos = 0;
  while (pos <= list.size()) {
    std::size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view item = trim_ows(list.substr(pos, comma - pos));
    if (!item.empty()) fn(item);
    pos = comma + 1;
  }
}

}  // namespace apimeter
