// Test-only protobuf reading for the tracing tests: a strict wire-format decoder (malformed bytes fail the
// test), OTLP attribute lookup, span frame splitting, and `protoc --decode_raw` when protoc is installed.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

namespace apimeter::tracing::testing {

struct Field {
  std::uint32_t number = 0;
  int wire_type = 0;        // 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
  std::uint64_t value = 0;  // varint and fixed values
  std::string_view bytes;   // length-delimited payload
};

// One decoded message. `ok` is false (and a failure recorded) when the bytes are not well-formed protobuf.
class Message {
 public:
  Message() = default;
  explicit Message(std::string_view data) { ok_ = decode(data); }

  bool ok() const { return ok_; }
  const std::vector<Field>& fields() const { return fields_; }

  std::size_t count(std::uint32_t number) const {
    std::size_t n = 0;
    for (const Field& f : fields_) n += f.number == number;
    return n;
  }
  bool has(std::uint32_t number) const { return count(number) > 0; }
  // The last occurrence, as protobuf merges repeated scalars.
  const Field* find(std::uint32_t number) const {
    const Field* found = nullptr;
    for (const Field& f : fields_)
      if (f.number == number) found = &f;
    return found;
  }
  std::vector<const Field*> all(std::uint32_t number) const {
    std::vector<const Field*> out;
    for (const Field& f : fields_)
      if (f.number == number) out.push_back(&f);
    return out;
  }
  std::string_view bytes(std::uint32_t number) const {
    const Field* f = find(number);
    EXPECT_TRUE(f != nullptr && f->wire_type == 2) << "field " << number << " is not length-delimited";
    return f != nullptr ? f->bytes : std::string_view{};
  }
  std::uint64_t value(std::uint32_t number, int wire_type) const {
    const Field* f = find(number);
    EXPECT_TRUE(f != nullptr && f->wire_type == wire_type)
        << "field " << number << " missing or of another type";
    return f != nullptr ? f->value : 0;
  }
  Message sub(std::uint32_t number) const { return Message(bytes(number)); }
  std::vector<Message> subs(std::uint32_t number) const {
    std::vector<Message> out;
    for (const Field* f : all(number)) out.emplace_back(f->bytes);
    return out;
  }

 private:
  bool decode(std::string_view data) {
    std::size_t at = 0;
    auto varint = [&](std::uint64_t& out) {
      out = 0;
      for (int shift = 0; shift < 70; shift += 7) {
        if (at >= data.size()) return false;
        const auto byte = static_cast<std::uint8_t>(data[at++]);
        if (shift == 63 && byte > 1) return false;
        out |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) return true;
      }
      return false;
    };
    auto fixed = [&](std::size_t n, std::uint64_t& out) {
      if (data.size() - at < n) return false;
      out = 0;
      for (std::size_t i = 0; i < n; ++i)
        out |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(data[at + i])) << (8 * i);
      at += n;
      return true;
    };
    while (at < data.size()) {
      std::uint64_t tag = 0;
      Field f;
      if (!varint(tag) || (tag >> 3) == 0) return fail(at, "bad tag");
      f.number = static_cast<std::uint32_t>(tag >> 3);
      f.wire_type = static_cast<int>(tag & 7);
      switch (f.wire_type) {
        case 0:
          if (!varint(f.value)) return fail(at, "bad varint");
          break;
        case 1:
          if (!fixed(8, f.value)) return fail(at, "short fixed64");
          break;
        case 5:
          if (!fixed(4, f.value)) return fail(at, "short fixed32");
          break;
        case 2: {
          std::uint64_t length = 0;
          if (!varint(length) || length > data.size() - at) return fail(at, "bad length");
          f.bytes = data.substr(at, length);
          at += length;
          break;
        }
        default:
          return fail(at, "unexpected wire type");
      }
      fields_.push_back(f);
    }
    return true;
  }
  bool fail(std::size_t at, const char* why) {
    ADD_FAILURE() << "malformed protobuf at byte " << at << ": " << why;
    return false;
  }

  std::vector<Field> fields_;
  bool ok_ = true;
};

// An OTLP AnyValue as the encoders write it: string_value = 1, bool_value = 2, int_value = 3.
struct AnyValue {
  std::optional<std::string> string;
  std::optional<bool> boolean;
  std::optional<std::int64_t> integer;
};

// KeyValue { key = 1; value = 2 } repeated as field `field` of `message`; a repeated key is a failure.
inline std::map<std::string, AnyValue> attributes(const Message& message, std::uint32_t field) {
  std::map<std::string, AnyValue> out;
  for (const Message& kv : message.subs(field)) {
    const std::string key(kv.bytes(1));
    const Message any = kv.sub(2);
    AnyValue v;
    if (const Field* s = any.find(1)) v.string = std::string(s->bytes);
    if (const Field* b = any.find(2)) v.boolean = b->value != 0;
    if (const Field* i = any.find(3)) v.integer = static_cast<std::int64_t>(i->value);
    EXPECT_EQ(any.fields().size(), 1u) << "attribute " << key << " does not hold exactly one value";
    EXPECT_TRUE(out.emplace(key, v).second) << "attribute " << key << " repeated";
  }
  return out;
}

// Splits span_encoder output ([u32 little-endian length][Span]...); a torn frame is a failure.
inline std::vector<std::string_view> split_frames(std::string_view framed) {
  std::vector<std::string_view> out;
  while (!framed.empty()) {
    if (framed.size() < 4) {
      ADD_FAILURE() << "torn frame header";
      break;
    }
    std::uint32_t n = 0;
    for (int i = 3; i >= 0; --i) n = n << 8 | static_cast<std::uint8_t>(framed[static_cast<std::size_t>(i)]);
    if (n > framed.size() - 4) {
      ADD_FAILURE() << "frame longer than the bytes left";
      break;
    }
    out.push_back(framed.substr(4, n));
    framed.remove_prefix(4 + n);
  }
  return out;
}

inline std::string bytes_of(const auto& id) {
  return std::string(id.begin(), id.end());
}

constexpr const char* kProtoc = "/usr/bin/protoc";

inline bool protoc_available() {
  return ::access(kProtoc, X_OK) == 0;
}

// Runs `protoc --decode_raw` over `message`; returns its output, or nullopt when protoc rejected it.
inline std::optional<std::string> protoc_decode_raw(std::string_view message) {
  const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                     ("apimeter_proto_" + std::to_string(::getpid()) + "_" +
                                      std::to_string(reinterpret_cast<std::uintptr_t>(&message)) + ".bin");
  {
    std::ofstream out(file, std::ios::binary);
    out.write(message.data(), static_cast<std::streamsize>(message.size()));
  }
  const std::string command = std::string(kProtoc) + " --decode_raw < '" + file.string() + "' 2>&1";
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    std::filesystem::remove(file);
    return std::nullopt;
  }
  char chunk[4096];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0) output.append(chunk, n);
  const int status = ::pclose(pipe);
  std::filesystem::remove(file);
  if (status != 0) {
    ADD_FAILURE() << "protoc --decode_raw failed: " << output;
    return std::nullopt;
  }
  return output;
}

}  // namespace apimeter::tracing::testing
