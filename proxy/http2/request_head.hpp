// The request head of one HTTP/2 stream, from its decoded header fields (RFC 9113 8.1-8.3) to the
// MessageHead the HTTP/1.1 upstream leg writes from. The fields are checked against what RFC 9113 calls
// malformed (pseudo-header rules, connection-specific fields, uppercase names, padded values), written out
// as an HTTP/1.1 head (Host from :authority, cookie crumbs joined, chunked framing when a body follows
// without a length) and parsed by the same strict HeadParser an HTTP/1.1 request goes through, so the
// upstream never sees a request that another reader could frame or route differently. Pure: no I/O, no
// allocation; every view points into the caller's storage, since the decoder's buffers live only for
// its callback.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/http1/http_head_parser.hpp"
#include "proxy/proxy_error.hpp"

namespace apimeter {

class Http2RequestHead {
 public:
  static constexpr std::size_t kMaxCookieCrumbs = 64;

  // A new head, written into [storage, storage + capacity): the HTTP/1.1 form grows from the front, the
  // cookie crumbs from the back; both must fit.
  void begin(char* storage, std::size_t capacity) noexcept;
  // One decoded field, in the order received. False when the request is malformed or does not fit; then
  // `error` says why and the stream is refused.
  bool add(std::string_view name, std::string_view value, ProxyError& error) noexcept;
  // All fields are in. `body_follows`: the HEADERS frame did not end the stream. Fills `out` (views into
  // the storage) under `limits`, as HeadParser::parse_request does for an HTTP/1.1 request.
  bool finish(bool body_follows, const HeadLimits& limits, MessageHead& out, ProxyError& error) noexcept;
  // Bytes of the storage in use once finish() succeeded; the rest is free for the caller.
  std::size_t used() const noexcept { return head_end_; }

 private:
  enum class Pseudo : std::uint8_t { method, scheme, authority, path, kCount };

  bool fail(ProxyError reason, ProxyError& error) noexcept {
    error = reason;
    failed_ = true;
    return false;
  }
  // The pseudo-header section ended: writes the request line and Host.
  bool start_fields(ProxyError& error) noexcept;
  bool append(std::string_view s) noexcept;
  bool append_field(std::string_view name, std::string_view value) noexcept;

  char* storage_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t head_begin_ = 0;  // the HTTP/1.1 form: [head_begin_, head_end_), after the pseudo values
  std::size_t head_end_ = 0;
  std::size_t crumbs_begin_ = 0;  // cookie crumbs: [crumbs_begin_, capacity_), the first at the back
  std::array<std::uint16_t, kMaxCookieCrumbs> crumb_lengths_{};
  std::size_t crumbs_ = 0;
  // Pseudo-header values, copied to the front of the storage until the request line is written.
  std::array<std::string_view, static_cast<std::size_t>(Pseudo::kCount)> pseudo_{};
  std::size_t pseudo_end_ = 0;
  bool fields_started_ = false;  // a regular field came: no pseudo-header may follow
  bool has_length_ = false;      // a content-length field came
  bool failed_ = false;
};

}  // namespace apimeter
