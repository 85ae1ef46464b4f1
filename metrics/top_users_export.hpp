// Turns the merged heavy-hitter sketches into Prometheus counters that behave: one series per listed user
// plus user="_other", every one monotonic, and their sum equal to the identified requests at every scrape.
// Each update hands the requests since the previous update to the currently listed (top-K) users according
// to how their sketch counts grew, and the rest to "_other". A user who drops out of the top K is folded
// into "_other" at once (its series ends; if the user is listed again later, a new series starts from 0
// with a new _created), so at most K users are exported.
// Scrape side only (the registry's lock); allocation is fine here.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace apimeter::metrics {

class TopUsersExport {
 public:
  struct Candidate {
    std::string user;
    std::uint64_t count = 0;  // merged Space-Saving count (upper bound)
    std::uint64_t error = 0;  // merged inherited error (count - error is a lower bound)
    std::int64_t in_flight = 0;
  };
  struct Row {
    std::string user;
    std::uint64_t requests = 0;
    double created = 0;        // unix seconds, when first listed
    std::uint64_t listed_at = 0;  // update number when last listed
    bool listed = false;          // in the current top K
    std::int64_t in_flight = 0;
  };

  // `total`: identified requests so far over all workers (monotonic). `k`: how many users to list.
  void update(std::vector<Candidate> candidates, std::uint64_t total, std::size_t k, double now);

  const std::vector<Row>& rows() const noexcept { return rows_; }  // by user id
  std::uint64_t other() const noexcept { return other_; }
  std::uint64_t total() const noexcept { return last_total_; }

 private:
  std::unordered_map<std::string, std::uint64_t> previous_counts_;
  std::vector<Row> rows_;
  std::uint64_t other_ = 0;
  std::uint64_t last_total_ = 0;
  std::uint64_t updates_ = 0;
};

}  // namespace apimeter::metrics
