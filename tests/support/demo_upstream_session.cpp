// The demo upstream's HTTP connection: request parsing, the endpoint table, and every response shape the
// proxy's tests need (streamed, chunked with trailers, close-delimited, truncated, malformed, hanging).
// Everything runs on the worker's thread through async operations; nothing here sleeps or throws.
#include "tests/support/demo_upstream_session.hpp"

#include <fmt/format.h>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <algorithm>
#include <iterator>
#include <limits>

#include "tests/support/demo_upstream_text.hpp"
#include "tests/support/demo_upstream_websocket.hpp"

namespace apimeter::demo {
namespace {

using std::chrono::milliseconds;
using namespace std::string_view_literals;

// Larger than the proxy's own request head limit, so tests that probe that limit hit the proxy, not us.
constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;
// Request bodies are read, and generated bodies written, in pieces of this size.
constexpr std::size_t kPieceBytes = 64 * 1024;
// After our last byte we wait this long for the client's FIN before closing (see do_close).
constexpr auto kLingerTimeout = std::chrono::seconds(5);
constexpr std::uint64_t kMaxDelayMs = 24ULL * 3600 * 1000;

// Generated bodies: the byte at offset i is kAlphabet[i % 64]. 64 divides the piece size, so every piece
// starts at offset 0 of the pattern and can be sent straight from kPattern.
constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static_assert(kAlphabet.size() == 64 && kPieceBytes % 64 == 0);
constexpr auto kPattern = [] {
  std::array<char, kPieceBytes> pattern{};
  for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = kAlphabet[i % kAlphabet.size()];
  return pattern;
}();

// Sum of the first n pattern bytes, mod 2^32, without touching them.
std::uint32_t pattern_sum(std::size_t n) {
  static constexpr auto kPrefix = [] {
    std::array<std::uint32_t, 65> prefix{};
    for (std::size_t i = 0; i < 64; ++i) prefix[i + 1] = prefix[i] + static_cast<unsigned char>(kAlphabet[i]);
    return prefix;
  }();
  return static_cast<std::uint32_t>(n / 64) * kPrefix[64] + kPrefix[n % 64];
}

// The `GET /` response is three constant pieces around the date: no fields container, no serializer.
constexpr std::string_view kRootStart11 = "HTTP/1.1 200 OK\r\nDate: ";
constexpr std::string_view kRootStart10 = "HTTP/1.0 200 OK\r\nDate: ";
constexpr std::string_view kRootEnd = "\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";
constexpr std::string_view kRootEndClose =
    "\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
constexpr std::string_view kRootEndKeepAlive =
    "\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n";

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// A 101 that switches to nothing: the connection is closed right after it.
constexpr std::string_view kSwitchingProtocols =
    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: demo\r\n\r\n";

constexpr std::string_view kHugeStart = "HTTP/1.1 200 OK\r\nX-Huge: ";
constexpr std::string_view kHugeEnd = "\r\nContent-Length: 5\r\n\r\nhello";
constexpr std::size_t kHugeValueBytes = 64 * 1024;
constexpr auto kHugeHeader = [] {
  std::array<char, kHugeStart.size() + kHugeValueBytes + kHugeEnd.size()> text{};
  auto out = std::copy(kHugeStart.begin(), kHugeStart.end(), text.begin());
  out = std::fill_n(out, kHugeValueBytes, 'h');
  std::copy(kHugeEnd.begin(), kHugeEnd.end(), out);
  return text;
}();

struct MalformedKind {
  std::string_view name;
  std::string_view bytes;
};
constexpr MalformedKind kMalformed[] = {
    {"dup-cl", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello"},
    {"cl-te",
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
    {"bad-status", "HTTP/1.1 2x0 OK\r\nContent-Length: 5\r\n\r\nhello"},
    {"bad-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
    {"bare-lf", "HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\n\nhello"},
    {"huge-header", {kHugeHeader.data(), kHugeHeader.size()}},
};

// The Connection field a response needs so the client draws the same keep-alive conclusion we did.
std::string_view connection_field(unsigned version, bool keep_alive) {
  if (version >= 11) return keep_alive ? ""sv : "Connection: close\r\n"sv;
  return keep_alive ? "Connection: keep-alive\r\n"sv : ""sv;
}

// Beast 1.74's table lacks a few registered codes; anything else unknown gets a neutral phrase.
std::string_view reason_phrase(unsigned code) {
  switch (code) {
    case 103:
      return "Early Hints";
    case 418:
      return "I'm a teapot";
    case 421:
      return "Misdirected Request";
    case 425:
      return "Too Early";
    default:
      break;
  }
  auto const status = http::int_to_status(code);
  return status == http::status::unknown ? "Unknown"sv : http::obsolete_reason(status);
}

bool is_parse_error(beast::error_code const& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}

}  // namespace

Session::Session(tcp::socket socket, Api& api, FaultInjector& faults, Prng& prng, HttpDate& date)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      api_(api),
      faults_(faults),
      fault_prng_(prng),
      date_(date) {}

void Session::run() {
  beast::error_code ec;
  // Heads and bodies leave in separate writes; with Nagle, delayed ACKs would hold the second one ~40 ms.
  socket_.set_option(tcp::no_delay(true), ec);
  do_read_head();
}

// ---------------------------------------------------------------------------------------------------------
// Request head and body

void Session::do_read_head() {
  // The serializer refers to head_, so it goes first.
  head_sr_.reset();
  head_.reset();
  res_.reset();
  endpoint_ = Endpoint::not_found;
  response_started_ = false;
  param_ = 0;
  head_fields_ = 0;
  body_bytes_ = 0;
  captured_body_.clear();
  piece_delay_ = milliseconds{0};
  trailer_ = false;

  parser_.emplace();
  parser_->header_limit(kMaxHeaderBytes);
  // Bodies are streamed through body_buf_, so size is no concern; a 1 GiB upload is a valid test. (Not
  // boost::none: Beast 1.74 compares the length against the optional, and any number is greater than none.)
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  http::async_read_header(socket_, buffer_, *parser_,
                          beast::bind_front_handler(&Session::on_read_head, shared_from_this()));
}

void Session::on_read_head(beast::error_code ec, std::size_t) {
  // The client closed between two requests: the ordinary end of a keep-alive connection.
  if (ec == http::error::end_of_stream) return close_now();
  if (ec) {
    if (!is_parse_error(ec)) return close_now();
    version_ = 11;
    keep_alive_ = false;
    method_ = http::verb::unknown;
    if (ec == http::error::header_limit) return reply_text(431, "request header fields too large\n");
    return reply_text(400, fmt::format("bad request: {}\n", ec.message()));
  }

  auto const& req = parser_->get();
  method_ = req.method();
  version_ = req.version();
  keep_alive_ = req.keep_alive();
  route();

  switch (endpoint_) {
    case Endpoint::root:
      // The benchmark path: a constant response, nothing else to look at.
      if (method_ == http::verb::get && parser_->is_done()) return do_write_root();
      break;
    case Endpoint::reset:
      return do_close();
    case Endpoint::rst:
      return reset_now();
    case Endpoint::hang:
      return do_hang();
    case Endpoint::malformed:
      keep_alive_ = false;
      return do_write_raw(malformed_);
    case Endpoint::websocket:
      if (beast::websocket::is_upgrade(req)) return start_websocket();
      break;
    case Endpoint::expect_continue:
      if (req["X-Reject"] == "1") {
        // Refuse before the body: the client must not send it, and whatever it sent anyway is drained by
        // the lingering close rather than parsed as the next request.
        keep_alive_ = false;
        start_reply(401, "text/plain").set(http::field::www_authenticate, R"(Bearer realm="demo")");
        res_->body() = "rejected\n";
        return do_write();
      }
      [[fallthrough]];
    case Endpoint::echo:
    case Endpoint::sink:
    case Endpoint::headers:
      head_fields_ = static_cast<std::size_t>(std::distance(req.begin(), req.end()));
      break;
    default:
      break;
  }

  // Every other endpoint reads the body, so a client holding it back for 100-continue gets the go-ahead.
  if (version_ >= 11 && !parser_->is_done() && beast::iequals(req[http::field::expect], "100-continue")) {
    return do_write_continue();
  }
  start_exchange();
}

void Session::route() {
  struct Exact {
    std::string_view path;
    Endpoint endpoint;
  };
  static constexpr Exact kExact[] = {
      {"/echo", Endpoint::echo},       {"/sink", Endpoint::sink},
      {"/headers", Endpoint::headers}, {"/reset", Endpoint::reset},
      {"/rst", Endpoint::rst},         {"/hang", Endpoint::hang},
      {"/ws", Endpoint::websocket},    {"/continue", Endpoint::expect_continue},
  };
  struct Numbered {
    std::string_view prefix;
    Endpoint endpoint;
    std::uint64_t min;
    std::uint64_t max;
  };
  static constexpr Numbered kNumbered[] = {
      {"/status/", Endpoint::status, 100, 999},
      {"/delay/", Endpoint::delay, 0, kMaxDelayMs},
      {"/bytes/", Endpoint::bytes, 0, UINT64_MAX},
      {"/close-mid-body/", Endpoint::close_mid_body, 0, UINT64_MAX},
      {"/slow-head/", Endpoint::slow_head, 0, kMaxDelayMs},
  };

  auto const target = parser_->get().target();
  auto const question = target.find('?');
  path_ = target.substr(0, question);
  query_ = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);

  endpoint_ = Endpoint::not_found;
  if (path_ == "/") {
    endpoint_ = Endpoint::root;
  } else if (path_.starts_with("/api/")) {
    endpoint_ = Endpoint::api;
  } else if (path_ == "/_demo/fault") {
    endpoint_ = Endpoint::fault;
  } else if (path_ == "/malformed" || path_.starts_with("/malformed/")) {
    auto const kind = path_ == "/malformed" ? kMalformed[0].name : path_.substr("/malformed/"sv.size());
    for (auto const& entry : kMalformed) {
      if (entry.name == kind) {
        endpoint_ = Endpoint::malformed;
        malformed_ = entry.bytes;
      }
    }
  } else {
    for (auto const& entry : kExact) {
      if (path_ == entry.path) endpoint_ = entry.endpoint;
    }
    for (auto const& entry : kNumbered) {
      if (!path_.starts_with(entry.prefix)) continue;
      auto const n = parse_uint(path_.substr(entry.prefix.size()));
      if (n && *n >= entry.min && *n <= entry.max) {
        endpoint_ = entry.endpoint;
        param_ = *n;
      }
    }
  }
}

void Session::do_write_continue() {
  net::async_write(socket_, net::buffer(kContinue),
                   beast::bind_front_handler(&Session::on_write_continue, shared_from_this()));
}

void Session::on_write_continue(beast::error_code ec, std::size_t) {
  if (ec) return close_now();
  start_exchange();
}

void Session::start_exchange() {
  // Echo answers while it reads; everything else reads (or discards) the whole body, then answers.
  if (endpoint_ == Endpoint::echo && method_ != http::verb::head) return start_echo();
  do_read_body();
}

void Session::do_read_body() {
  if (parser_->is_done()) {
    return endpoint_ == Endpoint::echo && response_started_ ? do_write_last() : respond();
  }
  if (!body_buf_) body_buf_ = std::make_unique_for_overwrite<char[]>(kPieceBytes);
  auto& body = parser_->get().body();
  body.data = body_buf_.get();
  body.size = kPieceBytes;
  http::async_read(socket_, buffer_, *parser_,
                   beast::bind_front_handler(&Session::on_read_body, shared_from_this()));
}

void Session::on_read_body(beast::error_code ec, std::size_t) {
  // need_buffer only says body_buf_ is full: the normal way a piece ends.
  if (ec == http::error::need_buffer) ec = {};
  if (ec) {
    // Once the echo head is out, a broken request can only end the connection.
    if (response_started_ || !is_parse_error(ec)) return close_now();
    keep_alive_ = false;
    return reply_text(400, fmt::format("bad request body: {}\n", ec.message()));
  }
  auto const got = kPieceBytes - parser_->get().body().size;
  body_bytes_ += got;
  if (endpoint_ == Endpoint::api && api_.wants_body() && captured_body_.size() < Api::kMaxCapturedBody) {
    captured_body_.append(body_buf_.get(), std::min(got, Api::kMaxCapturedBody - captured_body_.size()));
  }
  if (endpoint_ == Endpoint::echo && response_started_) {
    if (got > 0) return do_write_piece(body_buf_.get(), got);
    return parser_->is_done() ? do_write_last() : do_read_body();
  }
  if (!parser_->is_done()) return do_read_body();
  respond();
}

// The request, body included, has been read: answer it.
void Session::respond() {
  switch (endpoint_) {
    case Endpoint::root:
      if (method_ == http::verb::get) return do_write_root();
      return reply_text(200, "ok\n");
    case Endpoint::api:
      api_reply_ = api_.handle(ApiRequest{method_, path_, query_, body_bytes_, captured_body_});
      faults_.apply(path_, fault_prng_, api_reply_);
      if (api_reply_.delay.count() > 0) return do_api_wait();
      return reply_api();
    case Endpoint::fault:
      return reply_fault();
    case Endpoint::status:
      return reply_status();
    case Endpoint::delay:
      return do_delay();
    case Endpoint::bytes:
      return start_bytes();
    case Endpoint::close_mid_body:
      return start_close_mid_body();
    case Endpoint::sink:
    case Endpoint::expect_continue:
      return reply_received();
    case Endpoint::headers:
      return reply_headers();
    case Endpoint::slow_head:
      return do_write_status_line();
    case Endpoint::echo:  // HEAD /echo: nothing to echo
      return reply_text(200, "");
    case Endpoint::websocket: {
      auto& res = start_reply(426, "text/plain");
      res.set(http::field::upgrade, "websocket");
      res.set(http::field::connection, "Upgrade");
      res.body() = "websocket upgrade required\n";
      return do_write();
    }
    default:
      return reply_text(404, "not found\n");
  }
}

// ---------------------------------------------------------------------------------------------------------
// Small responses

http::response<http::string_body>& Session::start_reply(unsigned status, std::string_view content_type) {
  auto& res = res_.emplace();
  res.result(status);
  res.reason(reason_phrase(status));
  res.version(version_);
  res.set(http::field::date, date_.now());
  if (!content_type.empty()) res.set(http::field::content_type, content_type);
  return res;
}

void Session::reply_text(unsigned status, std::string body) {
  start_reply(status, "text/plain").body() = std::move(body);
  do_write();
}

void Session::reply_status() {
  auto const code = static_cast<unsigned>(param_);
  if (code == 101) {
    keep_alive_ = false;
    return do_write_raw(kSwitchingProtocols);
  }
  if (code / 100 == 1) {
    // HTTP/1.0 clients do not expect interim responses (RFC 9110 15.2): they get the final one only.
    if (version_ < 11) return reply_text(200, "status 200\n");
    raw_ = fmt::format("HTTP/1.1 {} {}\r\n{}\r\n", code, reason_phrase(code),
                       code == 103 ? "Link: </style.css>; rel=preload; as=style\r\n" : "");
    return do_write_interim();
  }
  // 204 and 304 carry no content and no Content-Type; 205 carries "Content-Length: 0" (RFC 9110 15.3.6).
  bool const no_content = code == 204 || code == 304 || code == 205;
  auto& res = start_reply(code, no_content ? "" : "text/plain");
  if (!no_content) res.body() = fmt::format("status {}\n", code);
  do_write();
}

void Session::reply_received() {
  std::string body = fmt::format("received {}\n", body_bytes_);
  // The parser appends trailer fields after the head's; the ones past head_fields_ came after the body.
  std::size_t index = 0;
  for (auto const& field : parser_->get()) {
    if (index++ < head_fields_) continue;
    fmt::format_to(std::back_inserter(body), "trailer {}: {}\n", field.name_string(), field.value());
  }
  reply_text(200, std::move(body));
}

void Session::reply_headers() {
  auto const& req = parser_->get();
  std::string body =
      fmt::format("{} {} HTTP/{}.{}\n", req.method_string(), req.target(), version_ / 10, version_ % 10);
  std::size_t index = 0;
  for (auto const& field : req) {
    if (index++ == head_fields_) break;  // trailers of the (discarded) body are not head fields
    fmt::format_to(std::back_inserter(body), "{}: {}\n", field.name_string(), field.value());
  }
  reply_text(200, std::move(body));
}

void Session::reply_api() {
  if (api_reply_.download_bytes > 0 && api_reply_.status == http::status::ok) {
    // A file download streams like /bytes/N.
    param_ = api_reply_.download_bytes;
    return start_bytes();
  }
  auto& res = start_reply(static_cast<unsigned>(api_reply_.status), "application/json");
  if (!api_reply_.location.empty()) res.set(http::field::location, api_reply_.location);
  if (!api_reply_.allow.empty()) res.set(http::field::allow, api_reply_.allow);
  if (api_reply_.retry_after) res.set(http::field::retry_after, "1");
  res.body() = std::move(api_reply_.body);
  do_write();
}

// The demo's fault control: POST sets, DELETE clears, GET shows; every answer is the resulting setting.
void Session::reply_fault() {
  if (method_ == http::verb::post || method_ == http::verb::put) {
    if (auto const error = faults_.set(query_)) {
      auto& res = start_reply(400, "application/json");
      res.body() = R"({"error":)";
      append_json_string(res.body(), *error);
      res.body().append("}\n");
      return do_write();
    }
  } else if (method_ == http::verb::delete_) {
    faults_.clear();
  } else if (method_ != http::verb::get && method_ != http::verb::head) {
    start_reply(405, "text/plain").set(http::field::allow, "GET, HEAD, POST, PUT, DELETE");
    res_->body() = "method not allowed\n";
    return do_write();
  }
  start_reply(200, "application/json").body() = faults_.describe();
  do_write();
}

void Session::do_write() {
  auto& res = *res_;
  res.keep_alive(keep_alive_);
  auto const code = res.result_int();
  if (code / 100 == 1 || code == 204 || code == 304) {
    // No content and no Content-Length (RFC 9110 8.6); Beast 1.74's prepare_payload() would add "0".
    res.body().clear();
    res.content_length(boost::none);
  } else {
    res.prepare_payload();
  }
  // HEAD: the fields a GET would get, Content-Length included, and no content.
  if (method_ == http::verb::head) res.body().clear();
  response_started_ = true;
  http::async_write(socket_, res, beast::bind_front_handler(&Session::on_write, shared_from_this()));
}

// Completes every whole response (do_write, do_write_root, do_write_raw, the slow head's second half).
void Session::on_write(beast::error_code ec, std::size_t) {
  if (ec) return close_now();
  if (!keep_alive_) return do_close();
  do_read_head();
}

void Session::do_write_root() {
  // Copied: another connection on this worker may reformat the shared date while this write is in flight.
  auto const date = date_.now();
  std::copy(date.begin(), date.end(), date_copy_.begin());
  auto const start = version_ >= 11 ? kRootStart11 : kRootStart10;
  auto const end = version_ >= 11 ? (keep_alive_ ? kRootEnd : kRootEndClose)
                                  : (keep_alive_ ? kRootEndKeepAlive : kRootEnd);
  std::array<net::const_buffer, 3> const buffers = {net::buffer(start), net::buffer(date_copy_),
                                                    net::buffer(end)};
  response_started_ = true;
  net::async_write(socket_, buffers, beast::bind_front_handler(&Session::on_write, shared_from_this()));
}

// Writes bytes that must stay valid until the write completes (static storage or raw_), then on_write.
void Session::do_write_raw(std::string_view bytes) {
  response_started_ = true;
  net::async_write(socket_, net::buffer(bytes),
                   beast::bind_front_handler(&Session::on_write, shared_from_this()));
}

void Session::do_write_interim() {
  net::async_write(socket_, net::buffer(raw_),
                   beast::bind_front_handler(&Session::on_write_interim, shared_from_this()));
}

void Session::on_write_interim(beast::error_code ec, std::size_t) {
  if (ec) return close_now();
  reply_text(200, "status 200\n");
}

// ---------------------------------------------------------------------------------------------------------
// Timed responses

void Session::do_delay() {
  timer_.expires_after(milliseconds(param_));
  timer_.async_wait(beast::bind_front_handler(&Session::on_delay, shared_from_this()));
}

void Session::on_delay(beast::error_code ec) {
  if (ec) return close_now();
  reply_text(200, fmt::format("delayed {}\n", param_));
}

void Session::do_api_wait() {
  timer_.expires_after(api_reply_.delay);
  timer_.async_wait(beast::bind_front_handler(&Session::on_api_wait, shared_from_this()));
}

void Session::on_api_wait(beast::error_code ec) {
  if (ec) return close_now();
  reply_api();
}

void Session::do_write_status_line() {
  // The whole response is built now; the status line leaves at once and the rest when the timer fires.
  constexpr std::string_view kBody = "slow head\n";
  raw_ = fmt::format(
      "HTTP/{}.{} 200 OK\r\nDate: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{}",
      version_ / 10, version_ % 10, date_.now(), kBody.size(), connection_field(version_, keep_alive_),
      method_ == http::verb::head ? "" : kBody);
  raw_sent_ = raw_.find("\r\n") + 2;
  response_started_ = true;
  net::async_write(socket_, net::buffer(raw_.data(), raw_sent_),
                   beast::bind_front_handler(&Session::on_write_status_line, shared_from_this()));
}

void Session::on_write_status_line(beast::error_code ec, std::size_t) {
  if (ec) return close_now();
  timer_.expires_after(milliseconds(param_));
  timer_.async_wait(beast::bind_front_handler(&Session::on_slow_head_wait, shared_from_this()));
}

void Session::on_slow_head_wait(beast::error_code ec) {
  if (ec) return close_now();
  net::async_write(socket_, net::buffer(raw_.data() + raw_sent_, raw_.size() - raw_sent_),
                   beast::bind_front_handler(&Session::on_write, shared_from_this()));
}

// ---------------------------------------------------------------------------------------------------------
// Streamed responses

void Session::start_echo() {
  auto const& req = parser_->get();
  auto& head = head_.emplace(http::status::ok, version_);
  head.set(http::field::date, date_.now());
  auto const content_type = req[http::field::content_type];
  head.set(http::field::content_type, content_type.empty() ? "application/octet-stream" : content_type);
  // Mirror the request's framing: chunked in, chunked out (trailers too); otherwise the same length.
  if (parser_->chunked() && version_ >= 11) {
    framing_ = Framing::chunked;
    head.chunked(true);
    if (auto const declared = req[http::field::trailer]; !declared.empty()) {
      head.set(http::field::trailer, declared);
    }
  } else if (parser_->chunked()) {
    framing_ = Framing::until_close;  // an HTTP/1.0 client cannot read chunked
    keep_alive_ = false;
  } else {
    framing_ = Framing::content_length;
    head.content_length(parser_->content_length().value_or(0));  // no Content-Length: an empty body
  }
  head.keep_alive(keep_alive_);
  do_write_head();
}

void Session::start_bytes() {
  auto const delay = query_param(query_, "delay_ms");
  auto const delay_ms = delay ? parse_uint(*delay) : std::optional<std::uint64_t>(0);
  if (!delay_ms || *delay_ms > kMaxDelayMs) {
    return reply_text(400, "delay_ms must be a number of milliseconds\n");
  }
  piece_delay_ = milliseconds(*delay_ms);
  trailer_ = query_flag(query_, "trailer");
  bool const chunked = trailer_ || query_flag(query_, "chunked");  // a trailer needs chunked framing

  auto& head = head_.emplace(http::status::ok, version_);
  head.set(http::field::date, date_.now());
  head.set(http::field::content_type, "application/octet-stream");
  if (query_flag(query_, "until_close") || (chunked && version_ < 11)) {
    framing_ = Framing::until_close;
    keep_alive_ = false;
    trailer_ = false;
  } else if (chunked) {
    framing_ = Framing::chunked;
    head.chunked(true);
    if (trailer_) head.set(http::field::trailer, "X-Checksum");
  } else {
    framing_ = Framing::content_length;
    head.content_length(param_);
  }
  head.keep_alive(keep_alive_);
  remaining_ = param_;
  checksum_ = 0;
  do_write_head();
}

void Session::start_close_mid_body() {
  auto& head = head_.emplace(http::status::ok, version_);
  head.set(http::field::date, date_.now());
  head.set(http::field::content_type, "application/octet-stream");
  head.content_length(param_);
  // The head promises a normal keep-alive response; only the early close says otherwise.
  head.keep_alive(keep_alive_);
  framing_ = Framing::content_length;
  remaining_ = param_ / 2;
  checksum_ = 0;
  do_write_head();
}

void Session::do_write_head() {
  head_sr_.emplace(*head_);
  response_started_ = true;
  http::async_write_header(socket_, *head_sr_,
                           beast::bind_front_handler(&Session::on_write_head, shared_from_this()));
}

void Session::on_write_head(beast::error_code ec, std::size_t) {
  if (ec) return close_now();
  if (endpoint_ == Endpoint::echo) return do_read_body();
  if (method_ == http::verb::head) return finish_response();
  do_next_piece();
}

// Generates the next piece of /bytes or /close-mid-body, or ends the body.
void Session::do_next_piece() {
  if (remaining_ == 0) {
    if (endpoint_ == Endpoint::close_mid_body) return do_close();
    return do_write_last();
  }
  piece_bytes_ = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, kPieceBytes));
  checksum_ += pattern_sum(piece_bytes_);
  do_write_piece(kPattern.data(), piece_bytes_);
}

void Session::do_write_piece(char const* data, std::size_t size) {
  auto handler = beast::bind_front_handler(&Session::on_write_piece, shared_from_this());
  if (framing_ != Framing::chunked) {
    return net::async_write(socket_, net::buffer(data, size), std::move(handler));
  }
  auto const line = fmt::format_to_n(chunk_size_.data(), chunk_size_.size(), "{:x}\r\n", size);
  std::array<net::const_buffer, 3> const buffers = {net::buffer(chunk_size_.data(), line.size),
                                                    net::buffer(data, size), net::buffer("\r\n"sv)};
  net::async_write(socket_, buffers, std::move(handler));
}

void Session::on_write_piece(beast::error_code ec, std::size_t) {
  if (ec) return close_now();
  if (endpoint_ == Endpoint::echo) return parser_->is_done() ? do_write_last() : do_read_body();
  remaining_ -= piece_bytes_;
  if (piece_delay_.count() > 0 && remaining_ > 0) {
    timer_.expires_after(piece_delay_);
    return timer_.async_wait(beast::bind_front_handler(&Session::on_piece_wait, shared_from_this()));
  }
  do_next_piece();
}

void Session::on_piece_wait(beast::error_code ec) {
  if (ec) return close_now();
  do_next_piece();
}

// Ends a streamed body: the last chunk and trailers when chunked, nothing otherwise.
void Session::do_write_last() {
  if (framing_ != Framing::chunked) return finish_response();
  raw_ = "0\r\n";
  if (trailer_) fmt::format_to(std::back_inserter(raw_), "X-Checksum: {}\r\n", checksum_);
  if (endpoint_ == Endpoint::echo) {
    // The request's trailers, which the parser appended after its head fields.
    std::size_t index = 0;
    for (auto const& field : parser_->get()) {
      if (index++ < head_fields_) continue;
      fmt::format_to(std::back_inserter(raw_), "{}: {}\r\n", field.name_string(), field.value());
    }
  }
  raw_ += "\r\n";
  net::async_write(socket_, net::buffer(raw_),
                   beast::bind_front_handler(&Session::on_write_last, shared_from_this()));
}

void Session::on_write_last(beast::error_code ec, std::size_t) {
  if (ec) return close_now();
  finish_response();
}

void Session::finish_response() {
  // A close-delimited body ends only when we close (keep_alive_ was cleared when it was chosen).
  if (!keep_alive_) return do_close();
  do_read_head();
}

// ---------------------------------------------------------------------------------------------------------
// Connection endings

void Session::start_websocket() {
  // The upgrade hands the socket over; this session ends when its last handler returns. Bytes a client
  // sent after the upgrade request without waiting for the 101 (still in buffer_) are not carried over.
  std::make_shared<WebSocketSession>(std::move(socket_))->run(parser_->get());
}

void Session::do_hang() {
  socket_.async_read_some(net::buffer(scratch_),
                          beast::bind_front_handler(&Session::on_hang, shared_from_this()));
}

void Session::on_hang(beast::error_code ec, std::size_t) {
  // Whatever the client sends is ignored; only its close (or the server stopping) ends the hang.
  if (ec) return close_now();
  do_hang();
}

// Graceful close: send FIN, then drain until the client's FIN (or kLingerTimeout). Closing with unread
// bytes in the receive queue would make the kernel send RST, which can destroy the response in flight.
void Session::do_close() {
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return close_now();
  timer_.expires_after(kLingerTimeout);
  timer_.async_wait(beast::bind_front_handler(&Session::on_linger_timeout, shared_from_this()));
  do_linger();
}

void Session::do_linger() {
  socket_.async_read_some(net::buffer(scratch_),
                          beast::bind_front_handler(&Session::on_linger, shared_from_this()));
}

void Session::on_linger(beast::error_code ec, std::size_t) {
  if (!ec) return do_linger();
  timer_.cancel();
  close_now();
}

void Session::on_linger_timeout(beast::error_code ec) {
  if (ec == net::error::operation_aborted) return;
  close_now();
}

void Session::close_now() {
  beast::error_code ec;
  socket_.close(ec);
}

// Abortive close: SO_LINGER with a zero timeout makes close() send RST instead of FIN.
void Session::reset_now() {
  beast::error_code ec;
  socket_.set_option(net::socket_base::linger(true, 0), ec);
  socket_.close(ec);
}

}  // namespace apimeter::demo
