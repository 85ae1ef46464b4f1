// Space-Saving with a min-heap (evict the smallest count) and an open-addressing index with backward-shift
// deletion, so steady-state updates never allocate. Readers use a sequence lock made of release stores and
// acquire loads only (no fences, no read-modify-write): a reader that sees any byte of a newer entry also
// sees the odd sequence number written before it, and retries.
#include "metrics/space_saving.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "metrics/hash.hpp"

namespace apimeter::metrics {

struct SpaceSaving::Published {
  static constexpr std::size_t kWords = kMaxUserKeyBytes / 8;
  std::atomic<std::uint32_t> seq{0};
  std::atomic<std::uint32_t> length{0};
  std::array<std::atomic<std::uint64_t>, kWords> words{};
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint64_t> error{0};
  std::atomic<std::int64_t> in_flight{0};
};

std::string_view user_key(std::string_view user, UserKeyBuffer& scratch) noexcept {
  bool printable = user.size() <= kMaxUserKeyBytes;
  for (std::size_t i = 0; printable && i < user.size(); ++i) {
    auto c = static_cast<unsigned char>(user[i]);
    printable = c >= 0x20 && c < 0x7f;
  }
  if (printable) return user;
  scratch[0] = '#';
  write_hex64(hash64(user), std::span<char, 16>(scratch.data() + 1, 16));
  return {scratch.data(), 17};
}

SpaceSaving::SpaceSaving(std::size_t capacity, std::uint64_t first_stamp)
    : capacity_(std::max<std::size_t>(capacity, 1)),
      published_(new Published[capacity_]),
      private_(capacity_) {
  heap_.reserve(capacity_);
  std::size_t table_size = std::bit_ceil(capacity_ * 2);
  table_.assign(table_size, 0);
  table_mask_ = table_size - 1;
  stamp_ = first_stamp;
}

SpaceSaving::~SpaceSaving() = default;

std::uint32_t SpaceSaving::find(std::string_view key, std::uint64_t hash) const noexcept {
  for (std::uint64_t i = hash & table_mask_;; i = (i + 1) & table_mask_) {
    std::uint32_t v = table_[i];
    if (v == 0) return UINT32_MAX;
    const Private& p = private_[v - 1];
    if (p.hash == hash && p.length == key.size() && std::memcmp(p.key.data(), key.data(), key.size()) == 0) return v - 1;
  }
}

void SpaceSaving::table_insert(std::uint32_t slot) noexcept {
  std::uint64_t i = private_[slot].hash & table_mask_;
  while (table_[i] != 0) i = (i + 1) & table_mask_;
  table_[i] = slot + 1;
}

void SpaceSaving::table_erase(std::uint32_t slot) noexcept {
  std::uint64_t hole = private_[slot].hash & table_mask_;
  while (table_[hole] != slot + 1) hole = (hole + 1) & table_mask_;
  // Backward-shift: move later entries of the probe run into the hole when their home allows it.
  for (std::uint64_t j = (hole + 1) & table_mask_; table_[j] != 0; j = (j + 1) & table_mask_) {
    std::uint64_t home = private_[table_[j] - 1].hash & table_mask_;
    bool movable = ((j - home) & table_mask_) >= ((j - hole) & table_mask_);
    if (movable) {
      table_[hole] = table_[j];
      hole = j;
    }
  }
  table_[hole] = 0;
}

void SpaceSaving::swap_heap(std::uint32_t a, std::uint32_t b) noexcept {
  std::swap(heap_[a], heap_[b]);
  private_[heap_[a]].heap_pos = a;
  private_[heap_[b]].heap_pos = b;
}

void SpaceSaving::sift_down(std::uint32_t pos) noexcept {
  const auto n = static_cast<std::uint32_t>(heap_.size());
  while (true) {
    std::uint32_t smallest = pos, l = 2 * pos + 1, r = l + 1;
    if (l < n && private_[heap_[l]].count < private_[heap_[smallest]].count) smallest = l;
    if (r < n && private_[heap_[r]].count < private_[heap_[smallest]].count) smallest = r;
    if (smallest == pos) return;
    swap_heap(pos, smallest);
    pos = smallest;
  }
}

void SpaceSaving::sift_up(std::uint32_t pos) noexcept {
  while (pos > 0) {
    std::uint32_t parent = (pos - 1) / 2;
    if (private_[heap_[parent]].count <= private_[heap_[pos]].count) return;
    swap_heap(pos, parent);
    pos = parent;
  }
}

void SpaceSaving::publish(std::uint32_t slot, std::string_view key, std::uint64_t count, std::uint64_t error) noexcept {
  Published& p = published_[slot];
  const std::uint32_t seq = p.seq.load(std::memory_order_relaxed);
  p.seq.store(seq + 1, std::memory_order_relaxed);
  std::array<std::uint64_t, Published::kWords> words{};
  std::memcpy(words.data(), key.data(), key.size());
  // Release stores: a reader that observes any of them also observes the odd sequence number above.
  p.length.store(static_cast<std::uint32_t>(key.size()), std::memory_order_release);
  for (std::size_t w = 0; w < Published::kWords; ++w) p.words[w].store(words[w], std::memory_order_release);
  p.count.store(count, std::memory_order_release);
  p.error.store(error, std::memory_order_release);
  p.in_flight.store(0, std::memory_order_release);
  p.seq.store(seq + 2, std::memory_order_release);
}

void SpaceSaving::add(std::string_view key, std::uint64_t hash) noexcept {
  total_.store(++total_plain_, std::memory_order_relaxed);
  if (std::uint32_t s = find(key, hash); s != UINT32_MAX) {
    Private& p = private_[s];
    published_[s].count.store(++p.count, std::memory_order_relaxed);
    sift_down(p.heap_pos);
    return;
  }
  insert(key, hash, 1);
}

std::uint32_t SpaceSaving::insert(std::string_view key, std::uint64_t hash, std::uint64_t increment) noexcept {
  std::uint32_t slot;
  std::uint64_t error = 0;
  if (size_plain_ < capacity_) {
    slot = size_plain_;
    heap_.push_back(slot);
    private_[slot].heap_pos = static_cast<std::uint32_t>(heap_.size() - 1);
  } else {
    // Evict the smallest count; the newcomer inherits it (its possible share before being monitored).
    slot = heap_[0];
    table_erase(slot);
    error = private_[slot].count;
  }
  Private& p = private_[slot];
  p.hash = hash;
  p.count = error + increment;
  p.stamp = ++stamp_;
  p.length = static_cast<std::uint8_t>(key.size());
  std::memcpy(p.key.data(), key.data(), key.size());
  table_insert(slot);
  publish(slot, key, p.count, error);
  if (size_plain_ < capacity_) {
    sift_up(p.heap_pos);
    size_.store(++size_plain_, std::memory_order_release);
  } else {
    sift_down(p.heap_pos);
  }
  return slot;
}

UserToken SpaceSaving::begin_request(std::string_view key, std::uint64_t hash) noexcept {
  // A user this worker does not monitor yet is taken in now with nothing counted, so its in-flight
  // requests show at once; the completion's add() then counts it exactly as an insert would have.
  std::uint32_t s = find(key, hash);
  if (s == UINT32_MAX) s = insert(key, hash, 0);
  auto& f = published_[s].in_flight;
  f.store(f.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return {s, private_[s].stamp};
}

void SpaceSaving::end_request(UserToken token) noexcept {
  if (token.slot >= size_plain_ || private_[token.slot].stamp != token.stamp) return;
  auto& f = published_[token.slot].in_flight;
  auto v = f.load(std::memory_order_relaxed);
  if (v > 0) f.store(v - 1, std::memory_order_relaxed);
}

void SpaceSaving::snapshot(std::vector<Entry>& out) const {
  const std::uint32_t n = size_.load(std::memory_order_acquire);
  for (std::uint32_t s = 0; s < n; ++s) {
    const Published& p = published_[s];
    for (int attempt = 0; attempt < 16; ++attempt) {
      const std::uint32_t before = p.seq.load(std::memory_order_acquire);
      if (before & 1) continue;
      std::array<std::uint64_t, Published::kWords> words;
      const std::uint32_t length = std::min<std::uint32_t>(p.length.load(std::memory_order_acquire), kMaxUserKeyBytes);
      for (std::size_t w = 0; w < Published::kWords; ++w) words[w] = p.words[w].load(std::memory_order_acquire);
      Entry e;
      e.count = p.count.load(std::memory_order_acquire);
      e.error = p.error.load(std::memory_order_acquire);
      e.in_flight = p.in_flight.load(std::memory_order_acquire);
      if (p.seq.load(std::memory_order_relaxed) != before) continue;
      e.key.assign(reinterpret_cast<const char*>(words.data()), length);
      out.push_back(std::move(e));
      break;
    }
  }
}

}  // namespace apimeter::metrics
