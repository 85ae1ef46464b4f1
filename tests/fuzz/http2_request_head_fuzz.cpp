// Fuzz target: an HTTP/2 stream's decoded header fields (as the decoder hands them over, any bytes) through
// the HTTP/2 request head and the upstream head writer. Input: fields separated by '\n', name and value
// by the first ':' after the first byte (so pseudo-headers can be named); the first byte says whether a
// body follows. Any crash, sanitizer report or broken invariant (an accepted head whose upstream form
// parses to another framing, or carries a line break the client sent) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proxy/http1/header_rewriter.hpp"
#include "proxy/http1/http_head_parser.hpp"
#include "proxy/http2/request_head.hpp"

using namespace apimeter;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool body_follows = (data[0] & 1) != 0;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr HeadLimits kLimits{4096, 32, 1024};

  char storage[4096];
  Http2RequestHead builder;
  builder.begin(storage, sizeof storage);
  ProxyError error = ProxyError::none;
  bool ok = true;
  while (ok && !input.empty()) {
    const std::size_t eol = input.find('\n');
    std::string_view line = input.substr(0, eol);
    input = eol == std::string_view::npos ? std::string_view() : input.substr(eol + 1);
    const std::size_t colon = line.size() > 1 ? line.find(':', 1) : std::string_view::npos;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value =
        colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    ok = builder.add(name, value, error);
  }
  MessageHead head;
  head.fields.reserve(kLimits.max_fields);
  if (!ok || !builder.finish(body_follows, kLimits, head, error)) return 0;
  if (head.find(FieldId::content_length) && head.find(FieldId::transfer_encoding)) std::abort();
  if (body_follows && head.framing == BodyFraming::none && !head.find(FieldId::content_length)) std::abort();

  char out[8192];
  HeadWriter writer(out, sizeof out);
  UpstreamRequestContext context;
  context.client_ip = "127.0.0.1";
  write_upstream_request_head(head, context, writer);
  if (writer.overflowed()) return 0;
  HeadParser again;
  MessageHead reparsed;
  constexpr HeadLimits kWide{16384, 64, 4096};
  if (again.parse_request(writer.view(), kWide, reparsed, error) != ParseStatus::complete) std::abort();
  if (reparsed.framing != head.framing || reparsed.content_length != head.content_length) std::abort();
  if (reparsed.host != head.host || reparsed.target != head.target) std::abort();
  return 0;
}
