// Stable, capped admission of label values at scrape time (learned route templates, capped extra-label
// values): workers each cap what they learn, the scrape caps the union per process. Heaviest first among
// newcomers; once admitted a value stays admitted, so a series never flips between its own label and
// "_other". Scrape side only (under the registry's lock).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "metrics/hash.hpp"

namespace apimeter::metrics {

class Admission {
 public:
  // Admits values of `counts` that are not admitted yet, heaviest first, while fewer than `cap` are.
  void update(const std::unordered_map<std::string, std::uint64_t>& counts, std::size_t cap) {
    std::vector<std::pair<std::uint64_t, const std::string*>> fresh;
    for (const auto& [value, count] : counts)
      if (!admitted_.contains(value)) fresh.emplace_back(count, &value);
    std::sort(fresh.begin(), fresh.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : *a.second < *b.second;
    });
    for (const auto& [count, value] : fresh) {
      if (admitted_.size() >= cap) break;
      admitted_.insert(*value);
    }
  }
  bool admitted(std::string_view value) const { return admitted_.find(value) != admitted_.end(); }
  std::size_t size() const noexcept { return admitted_.size(); }
  void clear() { admitted_.clear(); }

 private:
  std::unordered_set<std::string, StringViewHash, std::equal_to<>> admitted_;
};

}  // namespace apimeter::metrics
