// Byte-at-a-time transitions of the chunked parser; chunk data itself is skipped in bulk by feed().
#include "proxy/http1/chunked_decoder.hpp"

#include <algorithm>

#include "proxy/http1/http_head_parser.hpp"

namespace apimeter {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_tchar(char c) noexcept { return is_token(std::string_view(&c, 1)); }

// Chunk extensions (tokens, quoted strings, '=', ';', BWS) are visible ASCII or HTAB; never CTLs.
bool is_ext_char(char c) noexcept { return c == '\t' || (c >= 0x20 && c <= 0x7e); }

}  // namespace

void ChunkedDecoder::step(char c) noexcept {
  switch (state_) {
    case State::size: {
      int v = hex_value(c);
      if (v >= 0) {
        // 16 hex digits would overflow the 64-bit size; no real body needs more than 15.
        if (++digits_ > 15) return fail();
        remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(v);
        return;
      }
      if (digits_ == 0) return fail();
      if (c == ';' || c == ' ' || c == '\t') {
        state_ = State::ext;
        line_bytes_ = digits_ + 1;
        return;
      }
      if (c == '\r') {
        state_ = State::size_lf;
        return;
      }
      return fail();
    }
    case State::ext:
      if (c == '\r') {
        state_ = State::size_lf;
        return;
      }
      if (!is_ext_char(c) || ++line_bytes_ > limits_.max_line_bytes) return fail();
      return;
    case State::size_lf:
      if (c != '\n') return fail();
      digits_ = 0;
      line_bytes_ = 0;
      state_ = remaining_ == 0 ? State::trailer_start : State::data;
      return;
    case State::data_cr:
      if (c != '\r') return fail();
      state_ = State::data_lf;
      return;
    case State::data_lf:
      if (c != '\n') return fail();
      state_ = State::size;
      return;
    case State::trailer_start:
      if (c == '\r') {
        state_ = State::final_lf;
        return;
      }
      // A trailer field line: name ':' value; the name must be a non-empty token.
      if (!is_tchar(c)) return fail();
      trailer_colon_seen_ = false;
      line_bytes_ = 1;
      ++trailer_bytes_;
      state_ = State::trailer_line;
      return;
    case State::trailer_line:
      if (++trailer_bytes_ > limits_.max_trailer_bytes) return fail();
      ++line_bytes_;
      if (c == '\r') {
        if (!trailer_colon_seen_) return fail();
        state_ = State::trailer_lf;
        return;
      }
      if (!trailer_colon_seen_) {
        if (c == ':') {
          trailer_colon_seen_ = true;
          return;
        }
        if (!is_tchar(c)) return fail();  // includes whitespace before the colon
        return;
      }
      if (c == '\n' || c == '\0' || (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return fail();
      return;
    case State::trailer_lf:
      if (c != '\n') return fail();
      state_ = State::trailer_start;
      return;
    case State::final_lf:
      if (c != '\n') return fail();
      state_ = State::done;
      return;
    case State::data:
    case State::done:
    case State::failed:
      return;
  }
}

}  // namespace apimeter
