// The orders `apimeter top` can sort routes by, and their names on the command line and as keys. Pure data,
// so the command-line parser can check --sort without depending on the rest of top/.
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace apimeter::top {

enum class SortKey { rps, errors, p95, bytes };

struct SortKeyName {
  SortKey key;
  std::string_view name;  // --sort NAME
  char press;             // the key that selects it in the live view
};

inline constexpr std::array<SortKeyName, 4> kSortKeys{{
    {SortKey::rps, "rps", 'r'},
    {SortKey::errors, "errors", 'e'},
    {SortKey::p95, "p95", 'p'},
    {SortKey::bytes, "bytes", 'b'},
}};

inline std::optional<SortKey> parse_sort_key(std::string_view name) {
  for (const auto& k : kSortKeys)
    if (k.name == name) return k.key;
  return std::nullopt;
}

inline std::string_view sort_key_name(SortKey key) {
  for (const auto& k : kSortKeys)
    if (k.key == key) return k.name;
  return "rps";
}

}  // namespace apimeter::top
