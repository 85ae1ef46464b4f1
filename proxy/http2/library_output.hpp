// What an nghttp2 session has to send, moved into one fixed buffer: the loop every HTTP/2 session writes
// through. A piece that does not fit waits in `pending`, which points into the library and stays valid
// until the next nghttp2_session_mem_send.
#pragma once

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "proxy/buffer_pool.hpp"

namespace apimeter {

struct LibraryOutput {
  const std::uint8_t* data = nullptr;
  std::size_t length = 0;
};

// Fills `out` from its end with what the library has to send. False when the library failed (the
// session is over and the connection closes).
inline bool take_library_output(nghttp2_session* session, IoBuffer& out, LibraryOutput& pending) noexcept {
  while (out.space() > 0) {
    if (pending.length == 0) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session, &data);
      if (n < 0) return false;
      if (n == 0) break;
      pending = {data, static_cast<std::size_t>(n)};
    }
    const std::size_t take = std::min(pending.length, out.space());
    std::memcpy(out.write_ptr(), pending.data, take);
    out.end += take;
    pending.data += take;
    pending.length -= take;
  }
  return true;
}

}  // namespace apimeter
