// RFC 9113 8.1-8.3 checks, then the HTTP/1.1 form and the strict parse of it.
#include "proxy/http2/request_head.hpp"

#include <cstring>

#include "common/http_text.hpp"

namespace apimeter {
namespace {

// RFC 9113 8.2.2: fields that only mean something to one HTTP/1.1 connection make an HTTP/2 request
// malformed (TE is allowed with "trailers" alone).
bool is_connection_specific(std::string_view name) noexcept {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade";
}

bool has_uppercase(std::string_view name) noexcept {
  for (char c : name)
    if (c >= 'A' && c <= 'Z') return true;
  return false;
}

bool is_padded(std::string_view value) noexcept {
  auto space = [](char c) { return c == ' ' || c == '\t'; };
  return !value.empty() && (space(value.front()) || space(value.back()));
}

}  // namespace

void Http2RequestHead::begin(char* storage, std::size_t capacity) noexcept {
  storage_ = storage;
  capacity_ = capacity;
  head_begin_ = head_end_ = pseudo_end_ = 0;
  crumbs_begin_ = capacity;
  crumbs_ = 0;
  pseudo_.fill({});
  fields_started_ = has_length_ = failed_ = false;
}

bool Http2RequestHead::append(std::string_view s) noexcept {
  if (s.size() > crumbs_begin_ - head_end_) return false;
  std::memcpy(storage_ + head_end_, s.data(), s.size());
  head_end_ += s.size();
  return true;
}

bool Http2RequestHead::append_field(std::string_view name, std::string_view value) noexcept {
  return append(name) && append(": ") && append(value) && append("\r\n");
}

bool Http2RequestHead::add(std::string_view name, std::string_view value, ProxyError& error) noexcept {
  if (failed_) return false;
  if (name.empty()) return fail(ProxyError::bad_header_name, error);
  // Every byte the HTTP/1.1 form could read as structure is refused before it is written: CR, LF and NUL
  // in a value, anything but a lowercase token in a name.
  if (!is_valid_field_value(value) || is_padded(value)) return fail(ProxyError::bad_header_value, error);
  if (name.front() == ':') {
    if (fields_started_) return fail(ProxyError::bad_header_name, error);
    Pseudo which;
    if (name == ":method")
      which = Pseudo::method;
    else if (name == ":scheme")
      which = Pseudo::scheme;
    else if (name == ":authority")
      which = Pseudo::authority;
    else if (name == ":path")
      which = Pseudo::path;
    else
      return fail(ProxyError::bad_header_name, error);  // :status, :protocol, unknown ones
    std::string_view& slot = pseudo_[static_cast<std::size_t>(which)];
    if (slot.data() != nullptr) return fail(ProxyError::bad_header_name, error);
    if (value.size() > crumbs_begin_ - pseudo_end_) return fail(ProxyError::header_section_too_large, error);
    std::memcpy(storage_ + pseudo_end_, value.data(), value.size());
    slot = std::string_view(storage_ + pseudo_end_, value.size());
    pseudo_end_ += value.size();  // an empty value still has a non-null view: seen
    return true;
  }
  if (!is_token(name) || has_uppercase(name)) return fail(ProxyError::bad_header_name, error);
  if (is_connection_specific(name)) return fail(ProxyError::bad_header_name, error);
  if (name == "te" && value != "trailers") return fail(ProxyError::bad_header_value, error);
  if (!fields_started_ && !start_fields(error)) return false;
  if (name == "content-length") has_length_ = true;
  if (name == "host") {
    // :authority wins the Host line; a Host field that says something else is ambiguous.
    const std::string_view authority = pseudo_[static_cast<std::size_t>(Pseudo::authority)];
    if (authority.data() != nullptr) return authority == value ? true : fail(ProxyError::bad_host, error);
  }
  if (name == "cookie") {
    // RFC 9113 8.2.3: crumbs are joined into one field for HTTP/1.1; kept at the back until then.
    if (crumbs_ == kMaxCookieCrumbs) return fail(ProxyError::too_many_headers, error);
    if (value.size() > crumbs_begin_ - head_end_) return fail(ProxyError::header_section_too_large, error);
    crumbs_begin_ -= value.size();
    std::memcpy(storage_ + crumbs_begin_, value.data(), value.size());
    crumb_lengths_[crumbs_++] = static_cast<std::uint16_t>(value.size());
    return true;
  }
  if (!append_field(name, value)) return fail(ProxyError::header_section_too_large, error);
  return true;
}

bool Http2RequestHead::start_fields(ProxyError& error) noexcept {
  fields_started_ = true;
  head_begin_ = head_end_ = pseudo_end_;
  const auto pseudo = [this](Pseudo which) { return pseudo_[static_cast<std::size_t>(which)]; };
  const std::string_view method = pseudo(Pseudo::method), scheme = pseudo(Pseudo::scheme),
                         path = pseudo(Pseudo::path), authority = pseudo(Pseudo::authority);
  // RFC 9113 8.3.1: all but CONNECT carry :method, :scheme and a non-empty :path; CONNECT is refused
  // below by the request-line parse, as for HTTP/1.1.
  if (method.data() == nullptr) return fail(ProxyError::bad_request_line, error);
  if (method != "CONNECT") {
    if (scheme.data() == nullptr || path.empty()) return fail(ProxyError::bad_target, error);
    if (scheme != "http" && scheme != "https") return fail(ProxyError::bad_target, error);
    // Origin form or "*" only: an absolute URI here would bring its own authority past :authority.
    if (path.front() != '/' && path != "*") return fail(ProxyError::bad_target, error);
  }
  const std::string_view target = method == "CONNECT" ? authority : path;
  if (!append(method) || !append(" ") || !append(target) || !append(" HTTP/1.1\r\n"))
    return fail(ProxyError::header_section_too_large, error);
  if (authority.data() != nullptr && !append_field("host", authority))
    return fail(ProxyError::header_section_too_large, error);
  return true;
}

bool Http2RequestHead::finish(bool body_follows, const HeadLimits& limits, MessageHead& out,
                              ProxyError& error) noexcept {
  if (failed_) return false;
  if (!fields_started_ && !start_fields(error)) return false;
  if (crumbs_ > 0) {
    // The crumbs sit at the back, the first one last in memory: walked from the end. Joined with "; "
    // after the head they must not overlap it.
    std::size_t bytes = capacity_ - crumbs_begin_;
    const std::size_t line = 8 + bytes + 2 * (crumbs_ - 1) + 2;  // "cookie: " ... "\r\n"
    if (line > crumbs_begin_ - head_end_) return fail(ProxyError::header_section_too_large, error);
    std::size_t top = capacity_;
    append("cookie: ");
    for (std::size_t k = 0; k < crumbs_; ++k) {
      top -= crumb_lengths_[k];
      if (k > 0) append("; ");
      std::memcpy(storage_ + head_end_, storage_ + top, crumb_lengths_[k]);
      head_end_ += crumb_lengths_[k];
    }
    append("\r\n");
    crumbs_begin_ = capacity_;
    crumbs_ = 0;
  }
  // A body without a declared length goes up chunked (the stream frames its DATA so); a declared one is
  // checked by the parse like any Content-Length.
  if (body_follows && !has_length_ && !append("transfer-encoding: chunked\r\n"))
    return fail(ProxyError::header_section_too_large, error);
  if (!append("\r\n")) return fail(ProxyError::header_section_too_large, error);

  HeadParser parser;
  const ParseStatus status = parser.parse_request(
      std::string_view(storage_ + head_begin_, head_end_ - head_begin_), limits, out, error);
  if (status == ParseStatus::complete) return true;
  if (status == ParseStatus::incomplete)
    error = ProxyError::bad_request_line;  // cannot happen: it ends in CRLF CRLF
  failed_ = true;
  return false;
}

}  // namespace apimeter
