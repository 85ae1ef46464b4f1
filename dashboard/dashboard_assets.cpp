// Lookup over the embedded dashboard files (the data itself is generated at build time).
#include "dashboard/dashboard_assets.hpp"

namespace apimeter::dashboard {

const Asset* find_asset(std::string_view name) noexcept {
  for (const Asset& asset : assets())
    if (asset.name == name) return &asset;
  return nullptr;
}

}  // namespace apimeter::dashboard
