// See top_users_export.hpp for the accounting rules.
#include "metrics/top_users_export.hpp"

#include <algorithm>

namespace apimeter::metrics {

void TopUsersExport::update(std::vector<Candidate> candidates, std::uint64_t total, std::size_t k, double now) {
  ++updates_;
  const std::uint64_t delta_total = total > last_total_ ? total - last_total_ : 0;
  last_total_ = std::max(total, last_total_);

  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.count != b.count ? a.count > b.count : a.user < b.user;
  });
  const std::size_t listed = std::min(k, candidates.size());

  // Growth of each listed user's count since the previous update; a user new to the sketches contributes
  // only its guaranteed part (count - error).
  std::vector<std::uint64_t> deltas(listed, 0);
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < listed; ++i) {
    const Candidate& c = candidates[i];
    auto it = previous_counts_.find(c.user);
    if (it == previous_counts_.end()) deltas[i] = c.count > c.error ? c.count - c.error : 0;
    else deltas[i] = c.count > it->second ? c.count - it->second : 0;  // a restarted sketch re-baselines
    sum += deltas[i];
  }
  if (sum > delta_total) {
    // Sketch errors can promise more than arrived; scale down so the sum stays exact.
    std::uint64_t scaled_sum = 0;
    for (auto& d : deltas) {
      d = static_cast<std::uint64_t>(static_cast<unsigned __int128>(d) * delta_total / sum);
      scaled_sum += d;
    }
    sum = scaled_sum;
  }
  other_ += delta_total - sum;

  for (auto& r : rows_) r.listed = false;
  for (std::size_t i = 0; i < listed; ++i) {
    const Candidate& c = candidates[i];
    auto it = std::lower_bound(rows_.begin(), rows_.end(), c.user, [](const Row& r, const std::string& u) { return r.user < u; });
    if (it == rows_.end() || it->user != c.user) it = rows_.insert(it, Row{c.user, 0, now, 0, false, 0});
    it->requests += deltas[i];
    it->listed = true;
    it->listed_at = updates_;
  }
  std::unordered_map<std::string_view, std::int64_t> in_flight;
  for (const auto& c : candidates) in_flight[c.user] += c.in_flight;
  for (auto& r : rows_) {
    auto it = in_flight.find(r.user);
    r.in_flight = it == in_flight.end() ? 0 : it->second;
  }

  // Export exactly the K listed users: a user who drops out is folded into "_other" at once (its series
  // ends; "_other" jumps by its count, so every sum stays monotonic and equal to the total).
  const std::size_t max_rows = k;
  while (rows_.size() > max_rows) {
    auto victim = rows_.end();
    for (auto it = rows_.begin(); it != rows_.end(); ++it) {
      if (it->listed) continue;
      if (victim == rows_.end() || it->requests < victim->requests ||
          (it->requests == victim->requests && it->listed_at < victim->listed_at))
        victim = it;
    }
    if (victim == rows_.end()) break;  // cannot happen: at most k rows are listed
    other_ += victim->requests;
    rows_.erase(victim);
  }

  previous_counts_.clear();
  for (const auto& c : candidates) previous_counts_[c.user] = c.count;
}

}  // namespace apimeter::metrics
