// Fuzz target: client bytes through the request head parser, the chunked body parser behind it and the
// upstream head writer, fed in pieces the way a socket delivers them. Any crash, sanitizer report or
// broken invariant (a complete head larger than its input, an accepted request that is smuggling-prone)
// is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proxy/http1/chunked_decoder.hpp"
#include "proxy/http1/header_rewriter.hpp"
#include "proxy/http1/http_head_parser.hpp"

using namespace apimeter;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the read size, so partial heads and resumption get exercised.
  const std::size_t step = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr HeadLimits kLimits{4096, 32, 1024};

  HeadParser parser;
  MessageHead head;
  head.fields.reserve(kLimits.max_fields);
  ProxyError error = ProxyError::none;
  ParseStatus status = ParseStatus::incomplete;
  std::size_t fed = 0;
  while (fed < input.size() && status == ParseStatus::incomplete) {
    fed = std::min(input.size(), fed + step);
    status = parser.parse_request(input.substr(0, fed), kLimits, head, error);
  }
  if (status != ParseStatus::complete) return 0;
  if (head.head_bytes > fed) std::abort();
  // An accepted request never carries both framings, nor a Transfer-Encoding in HTTP/1.0.
  if (head.find(FieldId::content_length) && head.find(FieldId::transfer_encoding)) std::abort();
  if (head.version_minor == 0 && head.framing == BodyFraming::chunked) std::abort();

  char out[8192];
  HeadWriter writer(out, sizeof out);
  UpstreamRequestContext context;
  context.client_ip = "127.0.0.1";
  write_upstream_request_head(head, context, writer);
  // What we send upstream must parse back to the same framing.
  if (!writer.overflowed()) {
    HeadParser again;
    MessageHead reparsed;
    ProxyError e2;
    constexpr HeadLimits kWide{16384, 64, 4096};
    if (again.parse_request(writer.view(), kWide, reparsed, e2) == ParseStatus::complete) {
      if (reparsed.framing != head.framing || reparsed.content_length != head.content_length) std::abort();
    }
  }

  if (head.framing == BodyFraming::chunked) {
    ChunkedDecoder decoder;
    decoder.reset();
    std::string_view body = input.substr(head.head_bytes);
    std::uint64_t data_bytes = 0;
    for (std::size_t at = 0; at < body.size() && !decoder.done() && !decoder.failed(); at += step) {
      std::string_view piece = body.substr(at, step);
      std::size_t n = decoder.feed(piece, [&](std::string_view d) { data_bytes += d.size(); });
      if (n > piece.size()) std::abort();
      if (n < piece.size() && !decoder.done() && !decoder.failed()) std::abort();
    }
    if (data_bytes != decoder.data_bytes()) std::abort();
  }
  return 0;
}
