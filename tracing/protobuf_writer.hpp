// Protocol Buffers wire format (varint, fixed64/32, length-delimited) into a caller-owned fixed buffer,
// with nested messages whose length is patched in when they end. Enough for the OTLP messages we send;
// no reflection, no allocation. On overflow it stops writing and says so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace apimeter::tracing {

enum class WireType : std::uint8_t { varint = 0, fixed64 = 1, length_delimited = 2, fixed32 = 5 };

inline std::size_t varint_size(std::uint64_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes `v` as a varint at `out` (room for varint_size(v) bytes); returns the bytes written.
inline std::size_t encode_varint(std::uint64_t v, char* out) noexcept {
  std::size_t n = 0;
  while (v >= 0x80) {
    out[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out[n++] = static_cast<char>(v);
  return n;
}

inline std::uint64_t field_tag(std::uint32_t field, WireType type) noexcept {
  return static_cast<std::uint64_t>(field) << 3 | static_cast<std::uint64_t>(type);
}

// Appends a varint to a growing string (the exporter's request assembly).
inline void append_varint(std::string& out, std::uint64_t v) {
  char bytes[10];
  out.append(bytes, encode_varint(v, bytes));
}
// Appends the tag and length of a length-delimited field whose `length` bytes the caller appends next.
inline void append_length_prefix(std::string& out, std::uint32_t field, std::uint64_t length) {
  append_varint(out, field_tag(field, WireType::length_delimited));
  append_varint(out, length);
}

class ProtoWriter {
 public:
  ProtoWriter(char* data, std::size_t capacity) noexcept : data_(data), capacity_(capacity) {}

  void varint(std::uint32_t field, std::uint64_t v) noexcept {
    tag(field, WireType::varint);
    raw_varint(v);
  }
  void int64(std::uint32_t field, std::int64_t v) noexcept { varint(field, static_cast<std::uint64_t>(v)); }
  void fixed64(std::uint32_t field, std::uint64_t v) noexcept {
    tag(field, WireType::fixed64);
    raw_little_endian(v, 8);
  }
  void fixed32(std::uint32_t field, std::uint32_t v) noexcept {
    tag(field, WireType::fixed32);
    raw_little_endian(v, 4);
  }
  void bytes(std::uint32_t field, const void* data, std::size_t size) noexcept {
    tag(field, WireType::length_delimited);
    raw_varint(size);
    raw(data, size);
  }
  void string(std::uint32_t field, std::string_view s) noexcept { bytes(field, s.data(), s.size()); }

  // Nested message: begin() returns a mark for end(), which writes the length in front of the content.
  std::size_t begin(std::uint32_t field) noexcept {
    tag(field, WireType::length_delimited);
    const std::size_t mark = size_;
    raw("", 1);  // one byte reserved: most nested messages are shorter than 128 bytes
    return mark;
  }
  void end(std::size_t mark) noexcept {
    if (overflowed_) return;
    const std::size_t length = size_ - mark - 1;
    const std::size_t extra = varint_size(length) - 1;
    if (extra > 0) {
      if (extra > capacity_ - size_) {
        overflowed_ = true;
        return;
      }
      std::memmove(data_ + mark + 1 + extra, data_ + mark + 1, length);
      size_ += extra;
    }
    encode_varint(length, data_ + mark);
  }

  bool overflowed() const noexcept { return overflowed_; }
  std::size_t size() const noexcept { return size_; }
  std::string_view view() const noexcept { return {data_, size_}; }

 private:
  void tag(std::uint32_t field, WireType type) noexcept { raw_varint(field_tag(field, type)); }
  void raw_varint(std::uint64_t v) noexcept {
    char bytes[10];
    raw(bytes, encode_varint(v, bytes));
  }
  void raw_little_endian(std::uint64_t v, std::size_t n) noexcept {
    char bytes[8];
    for (std::size_t i = 0; i < n; ++i, v >>= 8) bytes[i] = static_cast<char>(v & 0xff);
    raw(bytes, n);
  }
  void raw(const void* data, std::size_t size) noexcept {
    if (overflowed_ || size > capacity_ - size_) {
      overflowed_ = true;
      return;
    }
    if (size > 0) std::memcpy(data_ + size_, data, size);
    size_ += size;
  }

  char* data_;
  std::size_t capacity_;
  std::size_t size_ = 0;
  bool overflowed_ = false;
};

}  // namespace apimeter::tracing
