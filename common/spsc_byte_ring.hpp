// A fixed-size single-producer single-consumer byte ring: a worker appends whole records without locks or
// allocation, another thread copies out what is committed. The access log's lines and the tracer's
// encoded spans both travel through it. A record that does not fit is refused, never split or blocked on.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace apimeter {

class SpscByteRing {
 public:
  explicit SpscByteRing(std::size_t capacity) : data_(new char[capacity]), capacity_(capacity) {}

  // Producer thread only: appends `first` then `second` as one record, or nothing when they do not fit.
  bool push(std::string_view first, std::string_view second = {}) noexcept {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    const std::size_t tail = tail_.load(std::memory_order_acquire);
    if (capacity_ - (head - tail) < first.size() + second.size()) return false;
    copy_in(head, first);
    copy_in(head + first.size(), second);
    head_.store(head + first.size() + second.size(), std::memory_order_release);
    return true;
  }

  // Consumer thread only: appends every committed byte to `out` and frees its room; returns the count.
  std::size_t drain_into(std::string& out) {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    const std::size_t head = head_.load(std::memory_order_acquire);
    const std::size_t n = head - tail;
    if (n == 0) return 0;
    const std::size_t at = tail % capacity_;
    const std::size_t first = std::min(n, capacity_ - at);
    out.append(data_.get() + at, first);
    out.append(data_.get(), n - first);
    tail_.store(head, std::memory_order_release);
    return n;
  }

  std::size_t capacity() const noexcept { return capacity_; }

 private:
  void copy_in(std::size_t position, std::string_view bytes) noexcept {
    if (bytes.empty()) return;
    const std::size_t at = position % capacity_;
    const std::size_t first = std::min(bytes.size(), capacity_ - at);
    std::memcpy(data_.get() + at, bytes.data(), first);
    std::memcpy(data_.get(), bytes.data() + first, bytes.size() - first);
  }

  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::atomic<std::size_t> head_{0};  // bytes ever pushed; written by the producer
  std::atomic<std::size_t> tail_{0};  // bytes ever drained; written by the consumer
};

}  // namespace apimeter
