// Fuzz target: upstream bytes through the response head parser and the client head writer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proxy/http1/header_rewriter.hpp"
#include "proxy/http1/http_head_parser.hpp"

using namespace apimeter;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t step = 1 + data[0] % 64;
  const Method method = data[1] % 2 ? Method::head : Method::get;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  constexpr HeadLimits kLimits{4096, 32, 4096};

  HeadParser parser;
  MessageHead head;
  ProxyError error = ProxyError::none;
  ParseStatus status = ParseStatus::incomplete;
  std::size_t fed = 0;
  while (fed < input.size() && status == ParseStatus::incomplete) {
    fed = std::min(input.size(), fed + step);
    status = parser.parse_response(input.substr(0, fed), kLimits, method, head, error);
  }
  if (status == ParseStatus::error && error != ProxyError::upstream_bad_response) std::abort();
  if (status != ParseStatus::complete) return 0;
  if (head.status < 100 || head.status > 599 || head.head_bytes > fed) std::abort();

  char out[8192];
  HeadWriter writer(out, sizeof out);
  ClientResponseContext context;
  context.framing = head.framing == BodyFraming::chunked ? ClientBodyFraming::chunked
                    : head.framing == BodyFraming::content_length ? ClientBodyFraming::content_length
                                                                  : ClientBodyFraming::none;
  write_client_response_head(head, context, writer);
  return 0;
}
