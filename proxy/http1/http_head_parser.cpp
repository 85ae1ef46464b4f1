// Strict HTTP/1.1 head parsing. Two passes over a head: scan() finds its end while refusing bare CR/LF
// and obs-fold as bytes arrive; then the complete head is tokenised once and its framing decided.
#include "proxy/http1/http_head_parser.hpp"

#include <algorithm>
#include <array>
#include <limits>

namespace apimeter {
namespace {

constexpr std::array<bool, 256> make_tchar_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr auto kTchar = make_tchar_table();

// Field values: HTAB, SP, VCHAR and obs-text; never NUL or another control character.
constexpr std::array<bool, 256> make_value_table() {
  std::array<bool, 256> t{};
  t['\t'] = true;
  for (int c = 0x20; c <= 0x7e; ++c) t[c] = true;
  for (int c = 0x80; c <= 0xff; ++c) t[c] = true;
  return t;
}
constexpr auto kValueChar = make_value_table();

// Request-target: visible US-ASCII except '#', which never belongs in a request.
constexpr std::array<bool, 256> make_target_table() {
  std::array<bool, 256> t{};
  for (int c = 0x21; c <= 0x7e; ++c) t[c] = true;
  t['#'] = false;
  return t;
}
constexpr auto kTargetChar = make_target_table();

// Host: reg-name / IPv4 / IP-literal characters plus ':' for the port.
constexpr std::array<bool, 256> make_host_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("-._~!$&'()*+,;=:[]%")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr auto kHostChar = make_host_table();

FieldId classify_field(std::string_view name) noexcept {
  struct Known {
    std::string_view name;
    FieldId id;
  };
  static constexpr Known kKnown[] = {
      {"host", FieldId::host},
      {"content-length", FieldId::content_length},
      {"transfer-encoding", FieldId::transfer_encoding},
      {"connection", FieldId::connection},
      {"keep-alive", FieldId::keep_alive},
      {"proxy-connection", FieldId::proxy_connection},
      {"te", FieldId::te},
      {"upgrade", FieldId::upgrade},
      {"expect", FieldId::expect},
      {"trailer", FieldId::trailer},
      {"via", FieldId::via},
      {"x-forwarded-for", FieldId::x_forwarded_for},
      {"x-forwarded-proto", FieldId::x_forwarded_proto},
      {"x-forwarded-host", FieldId::x_forwarded_host},
      {"user-agent", FieldId::user_agent},
      {"max-forwards", FieldId::max_forwards},
      {"traceparent", FieldId::traceparent},
      {"tracestate", FieldId::tracestate},
      {"b3", FieldId::b3},
      {"x-b3-traceid", FieldId::x_b3_trace_id},
      {"x-b3-spanid", FieldId::x_b3_span_id},
      {"x-b3-parentspanid", FieldId::x_b3_parent_span_id},
      {"x-b3-sampled", FieldId::x_b3_sampled},
      {"x-b3-flags", FieldId::x_b3_flags},
  };
  for (const auto& known : kKnown)
    if (known.name.size() == name.size() && iequals(known.name, name)) return known.id;
  return FieldId::other;
}

// Content-Length: 1*DIGIT, no sign, no list, no overflow.
bool parse_content_length(std::string_view v, std::uint64_t& out) noexcept {
  if (v.empty() || v.size() > 19) return false;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = n;
  return true;
}

bool valid_host(std::string_view host) noexcept {
  if (host.empty()) return false;
  for (char c : host)
    if (!kHostChar[static_cast<unsigned char>(c)]) return false;
  return true;
}


// Splits the field lines of a complete head (after the start line) into out.fields.
ProxyError parse_fields(std::string_view lines, std::size_t max_fields, MessageHead& out) noexcept {
  out.fields.clear();
  std::size_t pos = 0;
  while (pos < lines.size()) {
    std::size_t eol = lines.find("\r\n", pos);
    if (eol == std::string_view::npos) return ProxyError::bare_cr_or_lf;  // scan() guarantees CRLF
    std::string_view line = lines.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) break;  // the empty line that ends the head
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return ProxyError::bad_header_name;
    std::string_view name = line.substr(0, colon);
    if (name.back() == ' ' || name.back() == '\t') return ProxyError::space_before_colon;
    if (!is_token(name)) return ProxyError::bad_header_name;
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (!is_valid_field_value(value)) return ProxyError::bad_header_value;
    if (out.fields.size() >= max_fields) return ProxyError::too_many_headers;
    out.fields.push_back(HeaderField{name, value, classify_field(name)});
  }
  return ProxyError::none;
}

// Parses "HTTP/1.x" at the start of s; returns the minor version, -1 when not HTTP at all, -2 when
// another HTTP version.
int parse_version(std::string_view s) noexcept {
  if (s.size() != 8 || s.substr(0, 5) != "HTTP/" || s[6] != '.') return -1;
  char major = s[5], minor = s[7];
  if (major < '0' || major > '9' || minor < '0' || minor > '9') return -1;
  if (major != '1' || minor > '1') return -2;
  return minor - '0';
}

struct FramingFields {
  int content_length_count = 0;
  int transfer_encoding_count = 0;
  int host_count = 0;
  bool chunked_final = false;
  bool coding_after_chunked = false;
  bool other_coding = false;
};

ProxyError read_framing_fields(MessageHead& out, FramingFields& f) noexcept {
  out.keep_alive = out.version_minor >= 1;
  bool close = false, keep_alive_token = false;
  for (const auto& field : out.fields) {
    switch (field.id) {
      case FieldId::host:
        ++f.host_count;
        out.host = field.value;
        break;
      case FieldId::content_length:
        ++f.content_length_count;
        if (!parse_content_length(field.value, out.content_length)) return ProxyError::bad_content_length;
        break;
      case FieldId::transfer_encoding:
        ++f.transfer_encoding_count;
        // Codings accumulate across fields; chunked must come last and only once.
        for_each_list_token(field.value, [&](std::string_view coding) {
          if (f.chunked_final) f.coding_after_chunked = true;
          if (iequals(coding, "chunked")) f.chunked_final = true;
          else f.other_coding = true;
        });
        if (trim_ows(field.value).empty()) f.other_coding = true;
        break;
      case FieldId::connection:
        for_each_list_token(field.value, [&](std::string_view token) {
          if (iequals(token, "close")) close = true;
          else if (iequals(token, "keep-alive")) keep_alive_token = true;
          else if (iequals(token, "upgrade")) out.connection_upgrade = true;
        });
        break;
      case FieldId::upgrade:
        out.upgrade = field.value;
        break;
      case FieldId::trailer:
        out.has_trailer_field = true;
        break;
      default:
        break;
    }
  }
  if (out.version_minor == 0) out.keep_alive = keep_alive_token;
  if (close) out.keep_alive = false;
  if (!out.connection_upgrade) out.upgrade = {};
  return ProxyError::none;
}

// Max-Forwards = 1*DIGIT, once. A value the next hop could read differently (two fields, not a number) is
// refused rather than passed on, since it decides who answers.
ProxyError read_max_forwards(MessageHead& out) noexcept {
  constexpr std::int64_t kSaturated = 0x7fffffff;
  int count = 0;
  for (const auto& field : out.fields) {
    if (field.id != FieldId::max_forwards) continue;
    if (++count > 1 || field.value.empty()) return ProxyError::bad_max_forwards;
    std::int64_t hops = 0;
    for (char c : field.value) {
      if (c < '0' || c > '9') return ProxyError::bad_max_forwards;
      hops = std::min(kSaturated, hops * 10 + (c - '0'));
    }
    out.max_forwards = hops;
  }
  return ProxyError::none;
}

}  // namespace

bool offers_h2c(std::string_view upgrade) noexcept {
  bool found = false;
  // A protocol may carry a version ("h2c/1"); the name is what counts.
  for_each_list_token(upgrade, [&](std::string_view protocol) {
    found = found || iequals(trim_ows(protocol.substr(0, protocol.find('/'))), "h2c");
  });
  return found;
}

bool is_framing_lookalike(std::string_view name) noexcept {
  if (name.find('_') == std::string_view::npos) return false;
  auto same_with_dashes = [name](std::string_view framing) {
    if (name.size() != framing.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
      const char c = name[i] == '_' ? '-' : ascii_lower(name[i]);
      if (c != framing[i]) return false;
    }
    return true;
  };
  return same_with_dashes("content-length") || same_with_dashes("transfer-encoding");
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (!kTchar[static_cast<unsigned char>(c)]) return false;
  return true;
}

bool is_valid_field_value(std::string_view s) noexcept {
  for (char c : s)
    if (!kValueChar[static_cast<unsigned char>(c)]) return false;
  return true;
}


bool MessageHead::connection_lists(std::string_view name) const noexcept {
  bool found = false;
  for (const auto& field : fields) {
    if (field.id != FieldId::connection) continue;
    for_each_list_token(field.value, [&](std::string_view token) { found = found || iequals(token, name); });
  }
  return found;
}

const HeaderField* MessageHead::find(FieldId id) const noexcept {
  for (const auto& field : fields)
    if (field.id == id) return &field;
  return nullptr;
}

ParseStatus HeadParser::scan(std::string_view buf, const HeadLimits& limits, bool is_request,
                             ProxyError& error) noexcept {
  const std::size_t end = buf.size();
  std::size_t i = scanned_;
  for (; i < end; ++i) {
    char c = buf[i];
    if (c == '\r') {
      if (i + 1 == end) break;  // wait for the byte after CR
      if (buf[i + 1] != '\n') {
        error = ProxyError::bare_cr_or_lf;
        return ParseStatus::error;
      }
      ++i;  // at LF of a CRLF
      const std::size_t line_len = i - 1 - line_start_;
      if (line_len == 0) {
        // Empty line: before the request line it is skippable noise (RFC 9112 2.2), else the end.
        if (first_line_end_ == 0 && is_request && leading_ < 8) {
          ++leading_;
          line_start_ = i + 1;
          continue;
        }
        if (first_line_end_ == 0) {
          error = is_request ? ProxyError::bad_request_line : ProxyError::upstream_bad_response;
          return ParseStatus::error;
        }
        scanned_ = i + 1;
        return ParseStatus::complete;
      }
      if (first_line_end_ == 0) first_line_end_ = i + 1;
      line_start_ = i + 1;
      // A field line that starts with whitespace is obs-fold (or whitespace before the first field).
      if (i + 1 < end && (buf[i + 1] == ' ' || buf[i + 1] == '\t')) {
        error = ProxyError::obs_fold;
        return ParseStatus::error;
      }
    } else if (c == '\n') {
      error = ProxyError::bare_cr_or_lf;
      return ParseStatus::error;
    } else if (i == line_start_ && first_line_end_ != 0 && (c == ' ' || c == '\t')) {
      error = ProxyError::obs_fold;
      return ParseStatus::error;
    }
  }
  scanned_ = i;
  if (is_request && first_line_end_ == 0 && scanned_ - line_start_ > limits.max_target_bytes + 32) {
    error = ProxyError::uri_too_long;
    return ParseStatus::error;
  }
  if (scanned_ >= limits.max_head_bytes) {
    error = is_request ? ProxyError::header_section_too_large : ProxyError::upstream_bad_response;
    return ParseStatus::error;
  }
  return ParseStatus::incomplete;
}

ParseStatus HeadParser::parse_request(std::string_view buf, const HeadLimits& limits, MessageHead& out,
                                      ProxyError& error) noexcept {
  error = ProxyError::none;
  ParseStatus st = scan(buf, limits, true, error);
  if (st != ParseStatus::complete) return st;
  if (scanned_ > limits.max_head_bytes) {
    error = ProxyError::header_section_too_large;
    return ParseStatus::error;
  }
  auto fail = [&](ProxyError e) {
    error = e;
    return ParseStatus::error;
  };

  const std::size_t start = leading_ * 2;
  std::string_view line = buf.substr(start, first_line_end_ - 2 - start);
  out.reset();
  out.head_bytes = scanned_;

  // request-line = method SP request-target SP HTTP-version, single spaces only.
  std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return fail(ProxyError::bad_request_line);
  std::size_t sp2 = line.rfind(' ');
  if (sp2 == sp1) return fail(ProxyError::bad_request_line);
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (!is_token(out.method)) return fail(ProxyError::bad_request_line);
  int minor = parse_version(line.substr(sp2 + 1));
  if (minor == -1) return fail(ProxyError::bad_request_line);
  if (minor == -2) return fail(ProxyError::bad_version);
  out.version_minor = minor;
  if (out.target.size() > limits.max_target_bytes) return fail(ProxyError::uri_too_long);
  if (out.target.empty()) return fail(ProxyError::bad_request_line);
  for (char c : out.target)
    if (!kTargetChar[static_cast<unsigned char>(c)]) return fail(ProxyError::bad_target);
  out.method_id = classify_method(out.method);
  if (out.method_id == Method::connect) return fail(ProxyError::method_not_supported);

  std::string_view target = out.target;
  if (target.front() == '/') {
    out.target_form = TargetForm::origin;
  } else if (target == "*") {
    if (out.method_id != Method::options) return fail(ProxyError::bad_target);
    out.target_form = TargetForm::asterisk;
  } else {
    // absolute-form: http(s)://authority[/path][?query]
    std::size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos) return fail(ProxyError::bad_target);
    std::string_view scheme = target.substr(0, scheme_end);
    if (!iequals(scheme, "http") && !iequals(scheme, "https")) return fail(ProxyError::bad_target);
    std::string_view rest = target.substr(scheme_end + 3);
    std::size_t path_start = rest.find_first_of("/?");
    out.authority = rest.substr(0, path_start);
    if (!valid_host(out.authority) || out.authority.find('@') != std::string_view::npos)
      return fail(ProxyError::bad_target);
    target = path_start == std::string_view::npos ? std::string_view("/") : rest.substr(path_start);
    out.target_form = TargetForm::absolute;
  }
  if (out.target_form != TargetForm::asterisk) {
    std::size_t q = target.find('?');
    out.path = target.substr(0, q);
    if (q != std::string_view::npos) out.query = target.substr(q + 1);
    if (out.path.empty()) out.path = "/";
  } else {
    out.path = target;
  }

  std::string_view lines = buf.substr(first_line_end_, scanned_ - first_line_end_);
  if (ProxyError e = parse_fields(lines, limits.max_fields, out); e != ProxyError::none) return fail(e);

  FramingFields f;
  if (ProxyError e = read_framing_fields(out, f); e != ProxyError::none) return fail(e);
  if (f.host_count > 1) return fail(ProxyError::duplicate_host);
  if (f.host_count == 0 && out.version_minor == 1) return fail(ProxyError::missing_host);
  if (f.host_count == 1 && !valid_host(out.host)) return fail(ProxyError::bad_host);
  if (f.content_length_count > 1) return fail(ProxyError::duplicate_content_length);
  if (f.transfer_encoding_count > 0) {
    if (out.version_minor == 0) return fail(ProxyError::transfer_encoding_in_http10);
    if (f.content_length_count > 0) return fail(ProxyError::content_length_with_transfer_encoding);
    if (!f.chunked_final || f.coding_after_chunked) return fail(ProxyError::bad_transfer_encoding);
    if (f.other_coding) return fail(ProxyError::unsupported_transfer_coding);
    out.framing = BodyFraming::chunked;
  } else if (f.content_length_count == 1 && out.content_length > 0) {
    out.framing = BodyFraming::content_length;
  }
  if (const HeaderField* expect = out.find(FieldId::expect); expect && out.version_minor == 1) {
    if (!iequals(expect->value, "100-continue")) return fail(ProxyError::expectation_failed);
    out.expect_continue = true;
  }
  if (out.method_id == Method::options || out.method_id == Method::trace)
    if (ProxyError e = read_max_forwards(out); e != ProxyError::none) return fail(e);
  return ParseStatus::complete;
}

ParseStatus HeadParser::parse_response(std::string_view buf, const HeadLimits& limits, Method request_method,
                                       MessageHead& out, ProxyError& error) noexcept {
  error = ProxyError::none;
  ParseStatus st = scan(buf, limits, false, error);
  // Whatever is wrong with a response, the client sees the same 502.
  if (st == ParseStatus::error) error = ProxyError::upstream_bad_response;
  if (st != ParseStatus::complete) return st;
  auto fail = [&](ProxyError) {
    error = ProxyError::upstream_bad_response;
    return ParseStatus::error;
  };
  std::string_view line = buf.substr(0, first_line_end_ - 2);
  out.reset();
  out.head_bytes = scanned_;

  // status-line = HTTP-version SP 3DIGIT SP [reason]; a missing final SP is tolerated.
  if (line.size() < 12 || line[8] != ' ') return fail(ProxyError::upstream_bad_response);
  int minor = parse_version(line.substr(0, 8));
  if (minor < 0) return fail(ProxyError::upstream_bad_response);
  out.version_minor = minor;
  int status = 0;
  for (int k = 9; k < 12; ++k) {
    char c = line[k];
    if (c < '0' || c > '9') return fail(ProxyError::upstream_bad_response);
    status = status * 10 + (c - '0');
  }
  if (status < 100 || status > 599) return fail(ProxyError::upstream_bad_response);
  if (line.size() > 12) {
    if (line[12] != ' ') return fail(ProxyError::upstream_bad_response);
    out.reason = line.substr(13);
    for (char c : out.reason)
      if (!kValueChar[static_cast<unsigned char>(c)]) return fail(ProxyError::upstream_bad_response);
  }
  out.status = status;

  std::string_view lines = buf.substr(first_line_end_, scanned_ - first_line_end_);
  if (parse_fields(lines, limits.max_fields, out) != ProxyError::none) return fail(ProxyError::upstream_bad_response);
  FramingFields f;
  if (read_framing_fields(out, f) != ProxyError::none) return fail(ProxyError::upstream_bad_response);
  if (f.content_length_count > 1) return fail(ProxyError::upstream_bad_response);
  if (f.transfer_encoding_count > 0 && f.content_length_count > 0) return fail(ProxyError::upstream_bad_response);

  // RFC 9112 6.3, in order.
  if (request_method == Method::head || status < 200 || status == 204 || status == 304) {
    out.framing = BodyFraming::none;
  } else if (f.transfer_encoding_count > 0) {
    // Only plain chunked is relayed; other codings would need the header kept verbatim.
    if (!f.chunked_final || f.coding_after_chunked || f.other_coding) return fail(ProxyError::upstream_bad_response);
    out.framing = BodyFraming::chunked;
  } else if (f.content_length_count == 1) {
    out.framing = out.content_length > 0 ? BodyFraming::content_length : BodyFraming::none;
  } else {
    out.framing = BodyFraming::until_close;
    out.keep_alive = false;
  }
  return ParseStatus::complete;
}

}  // namespace apimeter
