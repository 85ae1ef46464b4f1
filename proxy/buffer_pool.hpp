// Per-worker pool of fixed-size I/O buffers. A connection holds buffers only while an exchange is in
// flight, so idle keep-alive connections cost no buffer memory. Single-threaded: owned by one worker.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace apimeter {

// A buffer with a filled window [begin, end) inside [0, capacity).
class IoBuffer {
 public:
  IoBuffer() = default;
  explicit IoBuffer(std::unique_ptr<char[]> memory, std::size_t capacity) noexcept
      : memory_(std::move(memory)), capacity_(capacity) {}

  explicit operator bool() const noexcept { return memory_ != nullptr; }
  char* data() noexcept { return memory_.get(); }
  std::size_t capacity() const noexcept { return capacity_; }

  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t size() const noexcept { return end - begin; }
  char* read_ptr() noexcept { return memory_.get() + begin; }
  const char* read_ptr() const noexcept { return memory_.get() + begin; }
  char* write_ptr() noexcept { return memory_.get() + end; }
  std::size_t space() const noexcept { return capacity_ - end; }
  void consume(std::size_t n) noexcept {
    begin += n;
    if (begin == end) begin = end = 0;
  }
  // Moves the filled window to the front so that space() is as large as it can be.
  void compact() noexcept;

 private:
  friend class BufferPool;
  std::unique_ptr<char[]> memory_;
  std::size_t capacity_ = 0;
};

class BufferPool {
 public:
  BufferPool(std::size_t buffer_bytes, std::size_t max_free) : buffer_bytes_(buffer_bytes), max_free_(max_free) {
    free_.reserve(max_free);
  }

  // Hands out a reused buffer when one is free; allocates otherwise.
  IoBuffer acquire();
  // Returns a buffer; buffers of another size (after a config change) or beyond max_free are freed.
  void release(IoBuffer& buffer) noexcept;
  // New buffers get this size from now on (config reload raising the header limits).
  void set_buffer_bytes(std::size_t bytes) noexcept { buffer_bytes_ = bytes; }
  std::size_t free_count() const noexcept { return free_.size(); }

 private:
  std::size_t buffer_bytes_;
  std::size_t max_free_;
  std::vector<std::unique_ptr<char[]>> free_;
};

}  // namespace apimeter
