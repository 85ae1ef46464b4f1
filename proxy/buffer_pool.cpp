// The buffer free-list: LIFO so the most recently used (cache-warm) buffer is handed out first.
#include "proxy/buffer_pool.hpp"

#include <cstring>

namespace apimeter {

void IoBuffer::compact() noexcept {
  if (begin == 0) return;
  std::memmove(memory_.get(), memory_.get() + begin, end - begin);
  end -= begin;
  begin = 0;
}

IoBuffer BufferPool::acquire() {
  if (!free_.empty()) {
    IoBuffer buffer(std::move(free_.back()), buffer_bytes_);
    free_.pop_back();
    return buffer;
  }
  return IoBuffer(std::unique_ptr<char[]>(new char[buffer_bytes_]), buffer_bytes_);
}

void BufferPool::release(IoBuffer& buffer) noexcept {
  if (!buffer) return;
  if (buffer.capacity_ == buffer_bytes_ && free_.size() < max_free_) {
    try {
      free_.push_back(std::move(buffer.memory_));
    } catch (...) {
      // push_back only allocates while the free list grows towards max_free; dropping the buffer is fine.
    }
  }
  buffer.memory_.reset();
  buffer.begin = buffer.end = 0;
  buffer.capacity_ = 0;
}

}  // namespace apimeter
