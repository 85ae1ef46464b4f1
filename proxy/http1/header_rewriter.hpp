// Writes the heads the proxy sends: the request head to the upstream, the response head to the client and
// local replies. Owns the header transforms (hop-by-hop removal, X-Forwarded-*, Via, canonical framing);
// writes into a caller-owned fixed buffer and never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/http1/http_head_parser.hpp"

namespace apimeter {

// Appends into a fixed buffer; on overflow stops writing and remembers it.
class HeadWriter {
 public:
  HeadWriter(char* data, std::size_t capacity) noexcept : data_(data), capacity_(capacity) {}
  void append(std::string_view s) noexcept;
  void append_uint(std::uint64_t n) noexcept;
  void append_field(std::string_view name, std::string_view value) noexcept;
  bool overflowed() const noexcept { return overflowed_; }
  std::size_t size() const noexcept { return size_; }
  std::string_view view() const noexcept { return {data_, size_}; }

 private:
  char* data_;
  std::size_t capacity_;
  std::size_t size_ = 0;
  bool overflowed_ = false;
};

struct UpstreamRequestContext {
  std::string_view client_ip;            // appended to X-Forwarded-For
  std::string_view scheme = "http";      // X-Forwarded-Proto unless trusted from the client
  bool trust_forwarded_headers = false;  // keep the client's X-Forwarded-Proto/-Host when present
  bool upgrade = false;                  // forward Upgrade with Connection: upgrade
  // Tracing is on: the client's traceparent and B3 fields are replaced by the extra fields below, and its
  // tracestate is dropped too unless it came with a valid traceparent (then it is forwarded unchanged).
  bool replace_trace_context = false;
  bool keep_tracestate = true;
  // Extra end-to-end fields the proxy adds (the trace context); name/value pairs.
  const std::string_view* extra_fields = nullptr;
  std::size_t extra_field_count = 0;
};

// Request head for the upstream, always HTTP/1.1, with the framing the parser decided re-emitted
// canonically so the upstream cannot read the body boundaries differently from us.
void write_upstream_request_head(const MessageHead& request, const UpstreamRequestContext& ctx,
                                 HeadWriter& out) noexcept;

enum class ClientBodyFraming : std::uint8_t {
  none,            // no body (HEAD, 1xx, 204, 304) — Content-Length kept where it is informative
  content_length,
  chunked,         // chunked bytes relayed verbatim
  until_close,     // body ends when we close (HTTP/1.0 client, or upstream read-until-close)
};

struct ClientResponseContext {
  ClientBodyFraming framing = ClientBodyFraming::none;
  bool keep_alive = true;     // the client connection stays open after this response
  bool client_http10 = false; // send Connection: keep-alive explicitly when keeping a 1.0 client
  bool upgrade = false;       // 101 Switching Protocols: keep Upgrade, Connection: upgrade
  int client_version_minor = 1;
};

void write_client_response_head(const MessageHead& response, const ClientResponseContext& ctx,
                                HeadWriter& out) noexcept;

// A complete proxy-generated response: head and one-line plain-text body.
void write_local_reply(int status, std::string_view body, bool keep_alive, HeadWriter& out) noexcept;
// The answer to an OPTIONS or TRACE whose Max-Forwards reached 0 (RFC 9110 7.6.2), apimeter being the final
// recipient: OPTIONS gets 200 with Allow, TRACE the request head echoed without its credentials.
void write_final_recipient_reply(const MessageHead& req, bool keep_alive, HeadWriter& out) noexcept;

std::string_view reason_phrase(int status) noexcept;

// True for the fields a proxy must not forward (RFC 9110 7.6.1), on either side.
bool is_hop_by_hop(const HeaderField& field, const MessageHead& head) noexcept;

}  // namespace apimeter
