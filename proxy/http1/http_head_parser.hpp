// Strict HTTP/1.1 message-head parser (RFC 9112) for requests from clients and responses from the
// upstream. Zero-copy: every view points into the caller's buffer. It decides message framing and refuses
// every ambiguity a request-smuggling attack relies on; it does no I/O and never allocates after reserve().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/http_method.hpp"
#include "common/http_text.hpp"
#include "proxy/proxy_error.hpp"

namespace apimeter {

// Header names the proxy acts on, classified once while parsing so later steps compare small integers.
enum class FieldId : std::uint8_t {
  other,
  host,
  content_length,
  transfer_encoding,
  connection,
  keep_alive,
  proxy_connection,
  te,
  upgrade,
  expect,
  trailer,
  via,
  x_forwarded_for,
  x_forwarded_proto,
  x_forwarded_host,
  user_agent,
  max_forwards,
  // Trace context (W3C, B3): read when tracing is on and then replaced toward the upstream.
  traceparent,
  tracestate,
  b3,
  x_b3_trace_id,
  x_b3_span_id,
  x_b3_parent_span_id,
  x_b3_sampled,
  x_b3_flags,
};

struct HeaderField {
  std::string_view name;
  std::string_view value;  // OWS trimmed
  FieldId id = FieldId::other;
};

using Method = HttpMethod;

enum class BodyFraming : std::uint8_t {
  none,            // no body
  content_length,  // exactly content_length bytes
  chunked,         // chunked transfer coding, terminated by the last chunk and trailers
  until_close,     // responses only: the body ends when the upstream closes
};

enum class TargetForm : std::uint8_t { origin, absolute, asterisk };

struct MessageHead {
  // Request line.
  std::string_view method;
  Method method_id = Method::other;
  std::string_view target;     // as received
  std::string_view path;       // origin-form path (without query); "/" for absolute-form without path
  std::string_view query;      // after '?', without it
  std::string_view authority;  // absolute-form only
  TargetForm target_form = TargetForm::origin;
  // Status line.
  int status = 0;
  std::string_view reason;

  int version_minor = 1;  // HTTP/1.<minor>; 0 or 1
  std::vector<HeaderField> fields;
  std::size_t head_bytes = 0;  // bytes of the head including the final CRLF (and skipped leading CRLFs)

  BodyFraming framing = BodyFraming::none;
  std::uint64_t content_length = 0;
  std::string_view host;     // the single Host value (requests)
  std::string_view upgrade;  // Upgrade value when Connection lists "upgrade"
  bool keep_alive = true;    // the sender wants the connection kept open
  bool connection_upgrade = false;
  bool expect_continue = false;
  bool has_trailer_field = false;
  // OPTIONS and TRACE only (RFC 9110 7.6.2): the hops left, -1 when the request carries no Max-Forwards.
  std::int64_t max_forwards = -1;

  // Back to a fresh head, keeping the field storage (and its capacity) for reuse.
  void reset() noexcept {
    std::vector<HeaderField> keep = std::move(fields);
    keep.clear();
    *this = MessageHead{};
    fields = std::move(keep);
  }
  // Whether `name` is listed as a token in any Connection field (case-insensitive).
  bool connection_lists(std::string_view name) const noexcept;
  const HeaderField* find(FieldId id) const noexcept;
};

struct HeadLimits {
  std::size_t max_head_bytes;
  std::size_t max_fields;
  std::size_t max_target_bytes;  // requests only
};

enum class ParseStatus : std::uint8_t { incomplete, complete, error };

// One per connection side, reused for every message; reset() before each new head. The caller passes the
// whole buffered prefix on every call; the parser resumes its scan for the end of the head where it
// stopped, so a head trickled in byte by byte costs linear time.
class HeadParser {
 public:
  void reset() noexcept { scanned_ = 0; line_start_ = 0; first_line_end_ = 0; leading_ = 0; }

  ParseStatus parse_request(std::string_view buffer, const HeadLimits& limits, MessageHead& out,
                            ProxyError& error) noexcept;
  // `request_method` and `request_version_minor` decide framing (HEAD, 1xx/204/304 have no body).
  ParseStatus parse_response(std::string_view buffer, const HeadLimits& limits, Method request_method,
                             MessageHead& out, ProxyError& error) noexcept;

 private:
  // Finds the end of the head; Error on bare CR/LF, obs-fold or a too-long head or request line.
  ParseStatus scan(std::string_view buffer, const HeadLimits& limits, bool is_request, ProxyError& error) noexcept;

  std::size_t scanned_ = 0;
  std::size_t line_start_ = 0;
  std::size_t first_line_end_ = 0;  // 0 until the first line has ended
  std::size_t leading_ = 0;         // leading empty lines skipped before a request line
};

// Field-level checks shared with the chunked trailer parser and the header rewriter.
bool is_token(std::string_view s) noexcept;
bool is_valid_field_value(std::string_view s) noexcept;
// True when an Upgrade value offers h2c ("h2c", "websocket, h2c"): such an upgrade is never passed on.
bool offers_h2c(std::string_view upgrade) noexcept;
// True for a field named like a framing field with '_' for '-' (Content_Length, transfer_encoding): servers
// that fold '_' into '-' (CGI, WSGI, some frameworks) would read it as one, so it is never forwarded.
bool is_framing_lookalike(std::string_view name) noexcept;

}  // namespace apimeter
