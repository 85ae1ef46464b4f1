// Raw TCP on 127.0.0.1 for integration tests: send exact bytes, read under deadlines, parse one HTTP/1.1
// response (Content-Length, chunked with trailers, or until close), notice a close or reset, speak masked
// WebSocket client frames, and play a scripted server (RawListener). No parsing leniency that could hide a
// proxy bug: heads must use CRLF, and a body cut short is reported as incomplete, never as a short success.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace apimeter::test {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

enum class ReadStatus { data, closed, reset, timeout };

class RawConnection {
 public:
  // Connects to 127.0.0.1:port within `timeout`; throws std::runtime_error when that fails.
  static RawConnection connect(std::uint16_t port, Millis timeout = 5s);
  // Same, without throwing: 0 and `out` filled on success, else the errno (ECONNREFUSED, ETIMEDOUT, ...).
  static int try_connect(std::uint16_t port, Millis timeout, std::optional<RawConnection>& out);

  RawConnection() = default;
  explicit RawConnection(int fd);  // takes ownership; made non-blocking
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection();

  bool is_open() const { return fd_ >= 0; }

  // Writes all of `bytes` within `timeout`; false when the peer is gone (EPIPE, ECONNRESET) or on timeout.
  bool send(std::string_view bytes, Millis timeout = 30s);
  void shutdown_write();
  void close();
  // Closes with SO_LINGER 0, so the peer sees a reset instead of a FIN.
  void close_with_reset();

  // One read of whatever is available, appended to buffer(); waits up to `timeout` for something.
  ReadStatus read_some(Millis timeout);
  // Received bytes not yet consumed by the functions below.
  std::string& buffer() { return in_; }
  // Consumes exactly `n` bytes; nullopt when the connection ended or the deadline passed first.
  std::optional<std::string> read_exact(std::size_t n, Millis timeout);
  // Consumes through the first `delimiter` (included); nullopt when it did not arrive in time.
  std::optional<std::string> read_until(std::string_view delimiter, Millis timeout);
  // Consumes everything until the peer closes or resets; stops at the deadline (check peer_closed()).
  std::string read_to_end(Millis timeout);
  // Reads (keeping bytes in buffer()) until the peer closes or resets; true when it did within `timeout`.
  bool wait_closed(Millis timeout);

  bool peer_closed() const { return eof_ || reset_; }
  bool was_reset() const { return reset_; }

 private:
  int fd_ = -1;
  std::string in_;
  bool eof_ = false;
  bool reset_ = false;
};

struct HttpField {
  std::string name;
  std::string value;
};

enum class BodyFraming { none, content_length, chunked, until_close };

struct HttpResponse {
  int status = 0;  // 0: no complete head arrived (see error)
  int version_minor = 1;
  std::string reason;
  std::string head;  // the raw head, final CRLF CRLF included
  std::vector<HttpField> fields;
  std::vector<HttpField> trailers;
  BodyFraming framing = BodyFraming::none;
  std::string body;                 // de-chunked; empty when ReadOptions::keep_body is false
  std::uint64_t body_bytes = 0;     // de-chunked body bytes received
  std::uint32_t body_sum = 0;       // sum of the body's bytes mod 2^32 (the demo's X-Checksum)
  std::uint64_t wire_bytes = 0;     // head plus framed body, as received
  bool complete = false;            // the body ended as its framing says
  std::string error;                // why not complete: "timeout", "closed", "reset", "bad chunk", ...

  // First value of a field (case-insensitive name), and how many fields have that name.
  std::optional<std::string> header(std::string_view name) const;
  std::size_t count(std::string_view name) const;
  std::optional<std::string> trailer(std::string_view name) const;
  // Whether a Connection field lists `token`.
  bool connection_has(std::string_view token) const;
};

struct ReadOptions {
  bool head_request = false;  // the request was HEAD: the response has no body whatever it says
  bool keep_body = true;      // false: count and sum the body without keeping it (large downloads)
  // Called after each piece of body arrives with the body bytes so far; may pause to apply backpressure.
  std::function<void(std::uint64_t)> on_body_progress;
};

// Reads one response (1xx included: call again for the final one) within `timeout` overall.
HttpResponse read_response(RawConnection& connection, Millis timeout, const ReadOptions& options = {});
// Reads responses until a final (>= 200) one; the interim ones are returned in `interim` when given.
HttpResponse read_final_response(RawConnection& connection, Millis timeout, const ReadOptions& options = {},
                                 std::vector<HttpResponse>* interim = nullptr);

// Case-insensitive ASCII comparison.
bool iequals(std::string_view a, std::string_view b);

// ---- WebSocket (RFC 6455) ---------------------------------------------------------------------------

namespace ws {
inline constexpr std::uint8_t kText = 0x1;
inline constexpr std::uint8_t kBinary = 0x2;
inline constexpr std::uint8_t kClose = 0x8;
inline constexpr std::uint8_t kPing = 0x9;
inline constexpr std::uint8_t kPong = 0xA;
// The key and accept value of RFC 6455 section 1.3, so the handshake can be checked without SHA-1.
inline constexpr std::string_view kSampleKey = "dGhlIHNhbXBsZSBub25jZQ==";
inline constexpr std::string_view kSampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
}  // namespace ws

struct WebSocketFrame {
  bool fin = false;
  std::uint8_t opcode = 0;
  bool masked = false;
  std::string payload;  // unmasked
};

// A client frame: always masked (RFC 6455 5.3) with `mask_key`.
std::string websocket_client_frame(std::uint8_t opcode, std::string_view payload, bool fin = true,
                                   std::uint32_t mask_key = 0x37fa213d);
// Reads one frame; nullopt when it did not arrive whole within `timeout`.
std::optional<WebSocketFrame> read_websocket_frame(RawConnection& connection, Millis timeout);
// Reads one message: a frame and its continuation frames up to FIN, joined (opcode of the first frame,
// fin set). A control frame, which may not be fragmented, is returned as it is.
std::optional<WebSocketFrame> read_websocket_message(RawConnection& connection, Millis timeout);

// ---- Scripted server --------------------------------------------------------------------------------

// A listening socket on 127.0.0.1 port 0, for an upstream whose every byte the test writes by hand.
class RawListener {
 public:
  // `backlog` 0 lets a single queued connection fill the accept queue (see tests of connect timeouts).
  explicit RawListener(int backlog = 64);
  ~RawListener();
  RawListener(const RawListener&) = delete;
  RawListener& operator=(const RawListener&) = delete;

  std::uint16_t port() const { return port_; }
  // The next connection, waiting up to `timeout`; nullopt when none came.
  std::optional<RawConnection> accept(Millis timeout);
  void close();

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// A port on 127.0.0.1 that nothing listens on (bound, then released).
std::uint16_t unused_port();

}  // namespace apimeter::test
