// Fuzz target: the chunked body parser alone, fed in pieces; it must never read past what it is given
// and must agree with itself on how many data bytes it saw.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proxy/http1/chunked_decoder.hpp"

using namespace apimeter;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t step = 1 + data[0] % 32;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  ChunkedDecoder decoder;
  decoder.reset({256, 1024});
  std::uint64_t seen = 0;
  for (std::size_t at = 0; at < input.size() && !decoder.done() && !decoder.failed(); at += step) {
    std::string_view piece = input.substr(at, step);
    std::size_t n = decoder.feed(piece, [&](std::string_view d) {
      if (d.data() < piece.data() || d.data() + d.size() > piece.data() + piece.size()) std::abort();
      seen += d.size();
    });
    if (n > piece.size()) std::abort();
  }
  if (seen != decoder.data_bytes()) std::abort();
  return 0;
}
