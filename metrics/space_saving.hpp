// Space-Saving heavy-hitter sketch (Metwally et al.) over user ids, one per worker: a fixed number of
// monitored ids with counts, so any id with more than 1/capacity of the worker's requests is monitored and
// the counts sum exactly to the requests seen. Single writer without locks or allocation; readers copy
// entries through a per-entry sequence lock built from atomics only, so a scrape never blocks the worker.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace apimeter::metrics {

// Ids are stored inline; longer ones, and ids with bytes outside printable ASCII (they would be label values),
// are replaced by "#" + 16 hex digits of their hash (see user_key()).
inline constexpr std::size_t kMaxUserKeyBytes = 64;
using UserKeyBuffer = std::array<char, kMaxUserKeyBytes>;

// The id as stored and exported: `user` itself when it fits and is printable ASCII, else its hashed form.
std::string_view user_key(std::string_view user, UserKeyBuffer& scratch) noexcept;

// Handle for per-user in-flight accounting: valid only while the same id still occupies the same entry.
struct UserToken {
  std::uint32_t slot = UINT32_MAX;
  std::uint64_t stamp = 0;
  bool monitored() const noexcept { return slot != UINT32_MAX; }
};

class SpaceSaving {
 public:
  // Stamps identify an entry's occupant; a replacement sketch continues from the old one's last_stamp() so
  // tokens from the old sketch never match.
  explicit SpaceSaving(std::size_t capacity, std::uint64_t first_stamp = 0);
  ~SpaceSaving();
  SpaceSaving(const SpaceSaving&) = delete;
  SpaceSaving& operator=(const SpaceSaving&) = delete;

  // Owning thread only. `key` comes from user_key(); `hash` is hash64(key).
  void add(std::string_view key, std::uint64_t hash) noexcept;
  UserToken begin_request(std::string_view key, std::uint64_t hash) noexcept;  // in-flight +1, monitoring it
  void end_request(UserToken token) noexcept;

  std::size_t capacity() const noexcept { return capacity_; }
  std::uint64_t last_stamp() const noexcept { return stamp_; }

  // Any thread.
  struct Entry {
    std::string key;
    std::uint64_t count = 0;  // upper bound of the id's requests since it was last inserted
    std::uint64_t error = 0;  // count inherited from the evicted entry: count - error is a lower bound
    std::int64_t in_flight = 0;
  };
  void snapshot(std::vector<Entry>& out) const;  // appends the monitored entries
  std::uint64_t total() const noexcept { return total_.load(std::memory_order_relaxed); }

 private:
  // Takes `key` into the sketch (evicting the smallest entry when full) with `increment` counted.
  std::uint32_t insert(std::string_view key, std::uint64_t hash, std::uint64_t increment) noexcept;
  struct Published;  // what readers see
  struct Private {   // writer only
    std::uint64_t hash = 0;
    std::uint64_t count = 0;
    std::uint32_t heap_pos = 0;
    std::uint64_t stamp = 0;
    std::uint8_t length = 0;
    std::array<char, kMaxUserKeyBytes> key{};
  };

  std::uint32_t find(std::string_view key, std::uint64_t hash) const noexcept;
  void table_insert(std::uint32_t slot) noexcept;
  void table_erase(std::uint32_t slot) noexcept;
  void sift_down(std::uint32_t pos) noexcept;
  void sift_up(std::uint32_t pos) noexcept;
  void swap_heap(std::uint32_t a, std::uint32_t b) noexcept;
  void publish(std::uint32_t slot, std::string_view key, std::uint64_t count, std::uint64_t error) noexcept;

  std::size_t capacity_;
  std::unique_ptr<Published[]> published_;
  std::vector<Private> private_;
  std::vector<std::uint32_t> heap_;   // min-heap of slots by count
  std::vector<std::uint32_t> table_;  // open addressing, slot + 1 (0 = empty)
  std::uint64_t table_mask_ = 0;
  std::uint32_t size_plain_ = 0;
  std::uint64_t stamp_ = 0;
  std::uint64_t total_plain_ = 0;
  std::atomic<std::uint32_t> size_{0};
  std::atomic<std::uint64_t> total_{0};
};

}  // namespace apimeter::metrics
