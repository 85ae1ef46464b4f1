// Header transforms for both directions. The request side removes hop-by-hop fields, every field the
// Connection header names and fields named like framing fields with '_' for '-', then adds Host,
// X-Forwarded-*, Via and canonical framing in that order.
#include "proxy/http1/header_rewriter.hpp"

#include <cstring>

#include "common/http_text.hpp"

namespace apimeter {
namespace {


std::string_view version_text(int minor) noexcept { return minor == 0 ? "1.0" : "1.1"; }

// Appends "name: existing-values, addition" merging every received field with that id into one line.
void append_merged(HeadWriter& out, std::string_view name, const MessageHead& head, FieldId id,
                   std::string_view addition1, std::string_view addition2 = {}) noexcept {
  out.append(name);
  out.append(": ");
  bool first = true;
  for (const auto& field : head.fields) {
    if (field.id != id || field.value.empty()) continue;
    if (!first) out.append(", ");
    out.append(field.value);
    first = false;
  }
  if (!first) out.append(", ");
  out.append(addition1);
  out.append(addition2);
  out.append("\r\n");
}

}  // namespace

void HeadWriter::append(std::string_view s) noexcept {
  if (s.empty()) return;
  if (overflowed_ || s.size() > capacity_ - size_) {
    overflowed_ = true;
    return;
  }
  std::memcpy(data_ + size_, s.data(), s.size());
  size_ += s.size();
}

void HeadWriter::append_uint(std::uint64_t n) noexcept {
  char digits[20];
  std::size_t len = 0;
  do {
    digits[sizeof digits - 1 - len++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  append({digits + sizeof digits - len, len});
}

void HeadWriter::append_field(std::string_view name, std::string_view value) noexcept {
  append(name);
  append(": ");
  append(value);
  append("\r\n");
}

bool is_hop_by_hop(const HeaderField& field, const MessageHead& head) noexcept {
  switch (field.id) {
    case FieldId::connection:
    case FieldId::keep_alive:
    case FieldId::proxy_connection:
    case FieldId::te:
    case FieldId::upgrade:
    case FieldId::transfer_encoding:
      return true;
    default:
      return head.connection_lists(field.name);
  }
}

void write_upstream_request_head(const MessageHead& req, const UpstreamRequestContext& ctx,
                                 HeadWriter& out) noexcept {
  out.append(req.method);
  out.append(" ");
  if (req.target_form == TargetForm::absolute) {
    out.append(req.path);
    if (!req.query.empty() || req.target.find('?') != std::string_view::npos) {
      out.append("?");
      out.append(req.query);
    }
  } else {
    out.append(req.target);
  }
  out.append(" HTTP/1.1\r\n");

  // RFC 9112 3.2.2: a proxy forwarding an absolute-form request generates Host from the target.
  std::string_view host = req.target_form == TargetForm::absolute ? req.authority : req.host;
  if (!host.empty()) out.append_field("Host", host);

  const HeaderField* forwarded_proto = nullptr;
  const HeaderField* forwarded_host = nullptr;
  for (const auto& field : req.fields) {
    switch (field.id) {
      case FieldId::host:
      case FieldId::content_length:
      case FieldId::x_forwarded_for:
      case FieldId::via:
        continue;  // re-emitted below
      case FieldId::x_forwarded_proto:
        if (!forwarded_proto) forwarded_proto = &field;
        continue;
      case FieldId::x_forwarded_host:
        if (!forwarded_host) forwarded_host = &field;
        continue;
      case FieldId::traceparent:
      case FieldId::b3:
      case FieldId::x_b3_trace_id:
      case FieldId::x_b3_span_id:
      case FieldId::x_b3_parent_span_id:
      case FieldId::x_b3_sampled:
      case FieldId::x_b3_flags:
        if (ctx.replace_trace_context) continue;
        break;
      case FieldId::tracestate:
        if (ctx.replace_trace_context && !ctx.keep_tracestate) continue;
        break;
      case FieldId::max_forwards:
        // RFC 9110 7.6.2: one hop fewer on OPTIONS and TRACE (a 0 was answered here, never forwarded).
        if (req.max_forwards > 0) {
          out.append("Max-Forwards: ");
          out.append_uint(static_cast<std::uint64_t>(req.max_forwards - 1));
          out.append("\r\n");
          continue;
        }
        break;
      default:
        break;
    }
    if (is_hop_by_hop(field, req) || is_framing_lookalike(field.name)) continue;
    out.append_field(field.name, field.value);
  }
  append_merged(out, "X-Forwarded-For", req, FieldId::x_forwarded_for, ctx.client_ip);
  out.append_field("X-Forwarded-Proto",
                   ctx.trust_forwarded_headers && forwarded_proto ? forwarded_proto->value : ctx.scheme);
  if (ctx.trust_forwarded_headers && forwarded_host) out.append_field("X-Forwarded-Host", forwarded_host->value);
  else if (!host.empty()) out.append_field("X-Forwarded-Host", host);
  append_merged(out, "Via", req, FieldId::via, version_text(req.version_minor), " apimeter");
  for (std::size_t i = 0; i + 1 < ctx.extra_field_count * 2; i += 2)
    out.append_field(ctx.extra_fields[i], ctx.extra_fields[i + 1]);

  switch (req.framing) {
    case BodyFraming::content_length:
      out.append("Content-Length: ");
      out.append_uint(req.content_length);
      out.append("\r\n");
      break;
    case BodyFraming::chunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case BodyFraming::none:
      // Methods whose semantics expect a body get an explicit zero length, as the client sent.
      if (req.find(FieldId::content_length)) out.append("Content-Length: 0\r\n");
      break;
    case BodyFraming::until_close:
      break;
  }
  if (ctx.upgrade) {
    out.append_field("Connection", "upgrade");
    out.append_field("Upgrade", req.upgrade);
  }
  out.append("\r\n");
}

void write_client_response_head(const MessageHead& resp, const ClientResponseContext& ctx,
                                HeadWriter& out) noexcept {
  out.append("HTTP/1.1 ");
  out.append_uint(static_cast<std::uint64_t>(resp.status));
  out.append(" ");
  out.append(resp.reason.empty() ? reason_phrase(resp.status) : resp.reason);
  out.append("\r\n");
  for (const auto& field : resp.fields) {
    if (field.id == FieldId::content_length || field.id == FieldId::via) continue;
    if (is_hop_by_hop(field, resp)) continue;
    out.append_field(field.name, field.value);
  }
  append_merged(out, "Via", resp, FieldId::via, version_text(resp.version_minor), " apimeter");
  switch (ctx.framing) {
    case ClientBodyFraming::content_length:
      out.append("Content-Length: ");
      out.append_uint(resp.content_length);
      out.append("\r\n");
      break;
    case ClientBodyFraming::chunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case ClientBodyFraming::none:
      // HEAD and 304 keep the length of the representation they describe.
      if (resp.status >= 200 && resp.status != 204)
        if (const HeaderField* cl = resp.find(FieldId::content_length)) out.append_field("Content-Length", cl->value);
      break;
    case ClientBodyFraming::until_close:
      break;
  }
  if (ctx.upgrade) {
    out.append_field("Connection", "upgrade");
    if (!resp.upgrade.empty()) out.append_field("Upgrade", resp.upgrade);
  } else if (!ctx.keep_alive) {
    out.append("Connection: close\r\n");
  } else if (ctx.client_http10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

void write_local_reply(int status, std::string_view body, bool keep_alive, HeadWriter& out) noexcept {
  out.append("HTTP/1.1 ");
  out.append_uint(static_cast<std::uint64_t>(status));
  out.append(" ");
  out.append(reason_phrase(status));
  out.append("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  out.append_uint(body.size());
  out.append(keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
  out.append(body);
}

void write_final_recipient_reply(const MessageHead& req, bool keep_alive, HeadWriter& out) noexcept {
  const std::string_view connection = keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  if (req.method_id == Method::options) {
    // What this proxy relays; the upstream's own answer needs a Max-Forwards above 0.
    out.append("HTTP/1.1 200 OK\r\nAllow: GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH\r\nContent-Length: 0");
    out.append(connection);
    return;
  }
  // TRACE (RFC 9110 9.3.8): the request as received, as message/http, less the fields "likely to contain
  // sensitive data", so a page's script cannot read credentials back through the echo: the standard ones
  // and any name that looks like one (X-API-Key, X-Auth-Token, X-Session-Id, X-CSRF-Token ...). Hiding an
  // innocent field costs a debugging echo one line; showing a secret costs the secret.
  auto reflected = [](const HeaderField& field) {
    for (std::string_view sensitive : {"auth", "cookie", "token", "key", "secret", "passw", "session",
                                       "credential", "csrf", "xsrf", "signature", "jwt"})
      if (icontains(field.name, sensitive)) return false;
    return true;
  };
  const std::string_view version = req.version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  std::uint64_t length = req.method.size() + 1 + req.target.size() + version.size() + 2;
  for (const auto& field : req.fields)
    if (reflected(field)) length += field.name.size() + 2 + field.value.size() + 2;
  out.append("HTTP/1.1 200 OK\r\nContent-Type: message/http\r\nContent-Length: ");
  out.append_uint(length);
  out.append(connection);
  out.append(req.method);
  out.append(" ");
  out.append(req.target);
  out.append(version);
  for (const auto& field : req.fields)
    if (reflected(field)) out.append_field(field.name, field.value);
  out.append("\r\n");
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace apimeter
