// Raw sockets for integration tests: non-blocking descriptors driven by poll() with deadlines, a strict
// HTTP/1.1 response reader, WebSocket framing and a listening socket for scripted upstreams. Blocking
// forever is impossible here: every loop checks its deadline.
#include "tests/support/raw_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace apimeter::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 256 * 1024;
constexpr std::size_t kMaxHeadBytes = 1024 * 1024;  // more than any head a test expects
constexpr std::size_t kMaxChunkLine = 4096;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(std::min<long long>(left, 1 << 30)) : 0;
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// "name: value" lines separated by CRLF (no final empty line); false on a malformed line.
bool parse_field_lines(std::string_view text, std::vector<HttpField>& out) {
  while (!text.empty()) {
    auto eol = text.find("\r\n");
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    out.push_back(HttpField{std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1)))});
  }
  return true;
}

std::optional<std::string> find_field(const std::vector<HttpField>& fields, std::string_view name) {
  for (const auto& field : fields)
    if (iequals(field.name, name)) return field.value;
  return std::nullopt;
}

// Sets the response's error from how the connection stopped delivering.
void set_stop_error(HttpResponse& response, const RawConnection& connection) {
  if (connection.was_reset()) response.error = "reset";
  else if (connection.peer_closed()) response.error = "closed";
  else response.error = "timeout";
}

// Body pieces go through here: counted, summed, kept when asked.
void take_body(HttpResponse& response, std::string_view piece, const ReadOptions& options) {
  response.body_bytes += piece.size();
  for (unsigned char c : piece) response.body_sum += c;
  if (options.keep_body) response.body.append(piece);
}

void read_chunked(RawConnection& connection, HttpResponse& response, Clock::time_point deadline,
                  const ReadOptions& options) {
  std::string& in = connection.buffer();
  for (;;) {
    // chunk-size [ chunk-ext ] CRLF
    std::size_t eol;
    while ((eol = in.find("\r\n")) == std::string::npos) {
      if (in.size() > kMaxChunkLine) {
        response.error = "bad chunk: size line too long";
        return;
      }
      if (connection.read_some(Millis(remaining_ms(deadline))) != ReadStatus::data) return set_stop_error(response, connection);
    }
    std::string_view line(in.data(), eol);
    std::string_view size_text = line.substr(0, line.find(';'));
    std::uint64_t size = 0;
    auto [ptr, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (size_text.empty() || ec != std::errc{} || ptr != size_text.data() + size_text.size()) {
      response.error = "bad chunk size line: " + std::string(line);
      return;
    }
    response.wire_bytes += eol + 2;
    in.erase(0, eol + 2);
    if (size == 0) break;
    std::uint64_t left = size;
    while (left > 0) {
      if (in.empty() && connection.read_some(Millis(remaining_ms(deadline))) != ReadStatus::data)
        return set_stop_error(response, connection);
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, in.size()));
      take_body(response, {in.data(), n}, options);
      response.wire_bytes += n;
      in.erase(0, n);
      left -= n;
      if (options.on_body_progress && n > 0) options.on_body_progress(response.body_bytes);
    }
    while (in.size() < 2) {
      if (connection.read_some(Millis(remaining_ms(deadline))) != ReadStatus::data) return set_stop_error(response, connection);
    }
    if (in.compare(0, 2, "\r\n") != 0) {
      response.error = "bad chunk: data not followed by CRLF";
      return;
    }
    response.wire_bytes += 2;
    in.erase(0, 2);
  }
  // trailer-section CRLF
  for (;;) {
    std::size_t eol;
    while ((eol = in.find("\r\n")) == std::string::npos) {
      if (in.size() > kMaxHeadBytes) {
        response.error = "trailer section too long";
        return;
      }
      if (connection.read_some(Millis(remaining_ms(deadline))) != ReadStatus::data) return set_stop_error(response, connection);
    }
    std::string line = in.substr(0, eol);
    response.wire_bytes += eol + 2;
    in.erase(0, eol + 2);
    if (line.empty()) break;
    if (!parse_field_lines(line, response.trailers)) {
      response.error = "bad trailer line: " + line;
      return;
    }
  }
  response.complete = true;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// ---- RawConnection ----------------------------------------------------------------------------------

int RawConnection::try_connect(std::uint16_t port, Millis timeout, std::optional<RawConnection>& out) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in address = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    if (errno != EINPROGRESS) {
      int error = errno;
      ::close(fd);
      return error;
    }
    pollfd p{fd, POLLOUT, 0};
    int ready;
    do {
      ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (ready < 0 && errno == EINTR);
    if (ready == 0) {
      ::close(fd);
      return ETIMEDOUT;
    }
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      ::close(fd);
      return error;
    }
  }
  out.emplace(fd);
  return 0;
}

RawConnection RawConnection::connect(std::uint16_t port, Millis timeout) {
  std::optional<RawConnection> connection;
  if (int error = try_connect(port, timeout, connection); error != 0)
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(error));
  return std::move(*connection);
}

RawConnection::RawConnection(int fd) : fd_(fd) {
  int flags = ::fcntl(fd_, F_GETFL);
  ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
}

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), in_(std::move(other.in_)), eof_(other.eof_), reset_(other.reset_) {}

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    in_ = std::move(other.in_);
    eof_ = other.eof_;
    reset_ = other.reset_;
  }
  return *this;
}

RawConnection::~RawConnection() { close(); }

bool RawConnection::send(std::string_view bytes, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      int ready = ::poll(&p, 1, remaining_ms(deadline));
      if (ready == 0) return false;
      continue;
    }
    if (n < 0 && errno == ECONNRESET) reset_ = true;
    return false;
  }
  return true;
}

void RawConnection::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void RawConnection::close_with_reset() {
  if (fd_ < 0) return;
  linger option{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &option, sizeof option);
  close();
}

ReadStatus RawConnection::read_some(Millis timeout) {
  if (reset_) return ReadStatus::reset;
  if (eof_) return ReadStatus::closed;
  auto deadline = Clock::now() + timeout;
  char chunk[kReadChunk];
  for (;;) {
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      in_.append(chunk, static_cast<std::size_t>(n));
      return ReadStatus::data;
    }
    if (n == 0) {
      eof_ = true;
      return ReadStatus::closed;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      reset_ = true;
      return ReadStatus::reset;
    }
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return ReadStatus::timeout;
  }
}

std::optional<std::string> RawConnection::read_exact(std::size_t n, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (in_.size() < n) {
    if (read_some(Millis(remaining_ms(deadline))) != ReadStatus::data) return std::nullopt;
  }
  std::string out = in_.substr(0, n);
  in_.erase(0, n);
  return out;
}

std::optional<std::string> RawConnection::read_until(std::string_view delimiter, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  std::size_t at;
  while ((at = in_.find(delimiter)) == std::string::npos) {
    if (read_some(Millis(remaining_ms(deadline))) != ReadStatus::data) return std::nullopt;
  }
  std::string out = in_.substr(0, at + delimiter.size());
  in_.erase(0, at + delimiter.size());
  return out;
}

std::string RawConnection::read_to_end(Millis timeout) {
  wait_closed(timeout);
  return std::exchange(in_, std::string());
}

bool RawConnection::wait_closed(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    ReadStatus status = read_some(Millis(remaining_ms(deadline)));
    if (status == ReadStatus::closed || status == ReadStatus::reset) return true;
    if (status == ReadStatus::timeout) return false;
  }
}

// ---- HTTP responses ---------------------------------------------------------------------------------

std::optional<std::string> HttpResponse::header(std::string_view name) const { return find_field(fields, name); }

std::size_t HttpResponse::count(std::string_view name) const {
  std::size_t n = 0;
  for (const auto& field : fields) n += iequals(field.name, name);
  return n;
}

std::optional<std::string> HttpResponse::trailer(std::string_view name) const { return find_field(trailers, name); }

bool HttpResponse::connection_has(std::string_view token) const {
  for (const auto& field : fields) {
    if (!iequals(field.name, "connection")) continue;
    std::string_view list = field.value;
    while (!list.empty()) {
      auto comma = list.find(',');
      if (iequals(trim(list.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return false;
}

HttpResponse read_response(RawConnection& connection, Millis timeout, const ReadOptions& options) {
  auto deadline = Clock::now() + timeout;
  HttpResponse response;
  std::string& in = connection.buffer();
  std::size_t end;
  while ((end = in.find("\r\n\r\n")) == std::string::npos) {
    if (in.size() > kMaxHeadBytes) {
      response.error = "head too long";
      return response;
    }
    if (connection.read_some(Millis(remaining_ms(deadline))) != ReadStatus::data) {
      set_stop_error(response, connection);
      if (!in.empty()) response.error += " after " + std::to_string(in.size()) + " bytes of a head";
      return response;
    }
  }
  response.head = in.substr(0, end + 4);
  in.erase(0, end + 4);
  response.wire_bytes = response.head.size();

  // status-line = HTTP-version SP 3DIGIT SP [reason]
  std::string_view head = response.head;
  std::string_view status_line = head.substr(0, head.find("\r\n"));
  if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") || status_line[8] != ' ') {
    response.error = "bad status line: " + std::string(status_line);
    return response;
  }
  response.version_minor = status_line[7] - '0';
  int status = 0;
  auto [ptr, ec] = std::from_chars(status_line.data() + 9, status_line.data() + 12, status);
  if (ec != std::errc{} || ptr != status_line.data() + 12) {
    response.error = "bad status code: " + std::string(status_line);
    return response;
  }
  if (status_line.size() > 13) response.reason = std::string(status_line.substr(13));
  std::string_view lines = head.substr(status_line.size() + 2);
  lines.remove_suffix(2);  // the empty line; what is left is CRLF-terminated field lines
  if (!parse_field_lines(lines, response.fields)) {
    response.error = "bad field line in head";
    return response;
  }
  response.status = status;

  bool no_body = options.head_request || status < 200 || status == 204 || status == 304;
  auto transfer_encoding = response.header("transfer-encoding");
  auto content_length = response.header("content-length");
  if (no_body) {
    response.framing = BodyFraming::none;
  } else if (transfer_encoding) {
    std::string_view codings = *transfer_encoding;
    auto last_comma = codings.rfind(',');
    std::string_view last = trim(last_comma == std::string_view::npos ? codings : codings.substr(last_comma + 1));
    response.framing = iequals(last, "chunked") ? BodyFraming::chunked : BodyFraming::until_close;
  } else if (content_length) {
    response.framing = BodyFraming::content_length;
  } else {
    response.framing = BodyFraming::until_close;
  }

  switch (response.framing) {
    case BodyFraming::none:
      response.complete = true;
      break;
    case BodyFraming::content_length: {
      std::uint64_t left = 0;
      auto [p, e] = std::from_chars(content_length->data(), content_length->data() + content_length->size(), left);
      if (e != std::errc{} || p != content_length->data() + content_length->size()) {
        response.error = "bad Content-Length: " + *content_length;
        return response;
      }
      while (left > 0) {
        if (in.empty() && connection.read_some(Millis(remaining_ms(deadline))) != ReadStatus::data) {
          set_stop_error(response, connection);
          return response;
        }
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, in.size()));
        take_body(response, {in.data(), n}, options);
        response.wire_bytes += n;
        in.erase(0, n);
        left -= n;
        if (options.on_body_progress && n > 0) options.on_body_progress(response.body_bytes);
      }
      response.complete = true;
      break;
    }
    case BodyFraming::chunked:
      read_chunked(connection, response, deadline, options);
      break;
    case BodyFraming::until_close:
      for (;;) {
        if (!in.empty()) {
          take_body(response, in, options);
          response.wire_bytes += in.size();
          in.clear();
          if (options.on_body_progress) options.on_body_progress(response.body_bytes);
        }
        ReadStatus status_now = connection.read_some(Millis(remaining_ms(deadline)));
        if (status_now == ReadStatus::data) continue;
        // A close-delimited body ends with a clean close; a reset or the deadline means it did not end.
        if (status_now == ReadStatus::closed) response.complete = true;
        else set_stop_error(response, connection);
        break;
      }
      break;
  }
  return response;
}

HttpResponse read_final_response(RawConnection& connection, Millis timeout, const ReadOptions& options,
                                 std::vector<HttpResponse>* interim) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    HttpResponse response = read_response(connection, Millis(remaining_ms(deadline)), options);
    if (response.status == 0 || response.status >= 200) return response;
    if (interim != nullptr) interim->push_back(std::move(response));
  }
}

// ---- WebSocket --------------------------------------------------------------------------------------

std::string websocket_client_frame(std::uint8_t opcode, std::string_view payload, bool fin, std::uint32_t mask_key) {
  std::string frame;
  frame.push_back(static_cast<char>((fin ? 0x80 : 0x00) | (opcode & 0x0f)));
  if (payload.size() < 126) {
    frame.push_back(static_cast<char>(0x80 | payload.size()));
  } else if (payload.size() <= 0xffff) {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(payload.size() >> 8));
    frame.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    frame.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8) frame.push_back(static_cast<char>((payload.size() >> shift) & 0xff));
  }
  char mask[4] = {static_cast<char>(mask_key >> 24), static_cast<char>(mask_key >> 16),
                  static_cast<char>(mask_key >> 8), static_cast<char>(mask_key)};
  frame.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return frame;
}

std::optional<WebSocketFrame> read_websocket_frame(RawConnection& connection, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  std::string& in = connection.buffer();
  auto need = [&](std::size_t n) {
    while (in.size() < n) {
      if (connection.read_some(Millis(remaining_ms(deadline))) != ReadStatus::data) return false;
    }
    return true;
  };
  if (!need(2)) return std::nullopt;
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(in[i]); };
  WebSocketFrame frame;
  frame.fin = (byte(0) & 0x80) != 0;
  frame.opcode = byte(0) & 0x0f;
  frame.masked = (byte(1) & 0x80) != 0;
  std::uint64_t length = byte(1) & 0x7f;
  std::size_t offset = 2;
  if (length == 126) {
    if (!need(4)) return std::nullopt;
    length = (std::uint64_t{byte(2)} << 8) | byte(3);
    offset = 4;
  } else if (length == 127) {
    if (!need(10)) return std::nullopt;
    length = 0;
    for (std::size_t i = 2; i < 10; ++i) length = (length << 8) | byte(i);
    offset = 10;
  }
  unsigned char mask[4] = {0, 0, 0, 0};
  if (frame.masked) {
    if (!need(offset + 4)) return std::nullopt;
    for (std::size_t i = 0; i < 4; ++i) mask[i] = byte(offset + i);
    offset += 4;
  }
  if (!need(offset + length)) return std::nullopt;
  frame.payload = in.substr(offset, length);
  if (frame.masked)
    for (std::size_t i = 0; i < frame.payload.size(); ++i) frame.payload[i] = static_cast<char>(frame.payload[i] ^ mask[i % 4]);
  in.erase(0, offset + length);
  return frame;
}

std::optional<WebSocketFrame> read_websocket_message(RawConnection& connection, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  auto message = read_websocket_frame(connection, timeout);
  while (message && !message->fin && message->opcode < 0x8) {
    auto next = read_websocket_frame(connection, Millis(remaining_ms(deadline)));
    if (!next || next->opcode != 0x0) return std::nullopt;  // a continuation frame must follow
    message->payload += next->payload;
    message->fin = next->fin;
  }
  return message;
}

// ---- RawListener ------------------------------------------------------------------------------------

RawListener::RawListener(int backlog) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in address = loopback(0);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd_, backlog) != 0) {
    int error = errno;
    ::close(fd_);
    throw std::runtime_error("listen on 127.0.0.1:0: " + std::string(std::strerror(error)));
  }
  socklen_t length = sizeof address;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
}

RawListener::~RawListener() { close(); }

std::optional<RawConnection> RawListener::accept(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return RawConnection(fd);
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return std::nullopt;
  }
}

void RawListener::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::uint16_t unused_port() {
  RawListener listener;
  return listener.port();
}

}  // namespace apimeter::test
