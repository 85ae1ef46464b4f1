// The dashboard page's files (dashboard/assets/), compiled into the binary by embed_assets.cmake, and the
// headers they are served with: a Content-Security-Policy that allows nothing but this origin's own files
// and its /stats. Pure data; the admin listener decides the paths.
#pragma once

#include <span>
#include <string_view>

namespace apimeter::dashboard {

struct Asset {
  std::string_view name;          // "dashboard.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view body;
};

// Every embedded file, in dashboard/CMakeLists.txt's order.
std::span<const Asset> assets() noexcept;
// The asset called `name`; null when there is none.
const Asset* find_asset(std::string_view name) noexcept;

// No inline script or style, no other origin, no framing, no forms, no plugins.
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace apimeter::dashboard
