// Incremental, strict parser of the chunked transfer coding (RFC 9112 7.1), including chunk extensions
// and trailer fields. It tells the relay where a chunked body ends and which bytes are data, so the body
// can be forwarded verbatim after validation or de-chunked for an HTTP/1.0 client. No I/O, no allocation.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace apimeter {

struct ChunkedLimits {
  std::size_t max_line_bytes = 4096;      // chunk-size line with extensions
  std::size_t max_trailer_bytes = 16384;  // whole trailer section
};

class ChunkedDecoder {
 public:
  void reset(ChunkedLimits limits = {}) noexcept {
    *this = ChunkedDecoder{};
    limits_ = limits;
  }

  // Consumes bytes of `in` up to the end of the chunked body at most. For every run of chunk data,
  // calls on_data(std::string_view). Returns the number of bytes consumed; after it, check done()/failed().
  template <typename OnData>
  std::size_t feed(std::string_view in, OnData&& on_data) noexcept {
    std::size_t i = 0;
    while (i < in.size() && state_ != State::done && state_ != State::failed) {
      if (state_ == State::data) {
        std::size_t n = static_cast<std::size_t>(
            std::min<std::uint64_t>(remaining_, static_cast<std::uint64_t>(in.size() - i)));
        on_data(in.substr(i, n));
        data_bytes_ += n;
        remaining_ -= n;
        i += n;
        if (remaining_ == 0) state_ = State::data_cr;
        continue;
      }
      step(in[i]);
      ++i;
    }
    return i;
  }

  bool done() const noexcept { return state_ == State::done; }
  bool failed() const noexcept { return state_ == State::failed; }
  bool has_trailers() const noexcept { return trailer_bytes_ > 0; }
  std::uint64_t data_bytes() const noexcept { return data_bytes_; }

 private:
  enum class State : std::uint8_t {
    size,         // hex digits of chunk-size
    ext,          // chunk extensions up to CR
    size_lf,      // LF after the size line
    data,
    data_cr,      // CR after chunk data
    data_lf,
    trailer_start,  // start of a trailer line, or the final CRLF
    trailer_line,   // inside a trailer field line
    trailer_lf,
    final_lf,
    done,
    failed,
  };
  void step(char c) noexcept;
  void fail() noexcept { state_ = State::failed; }

  ChunkedLimits limits_{};
  State state_ = State::size;
  std::uint64_t remaining_ = 0;
  std::uint64_t data_bytes_ = 0;
  std::size_t digits_ = 0;
  std::size_t line_bytes_ = 0;
  std::size_t trailer_bytes_ = 0;
  bool trailer_colon_seen_ = false;
};

}  // namespace apimeter
