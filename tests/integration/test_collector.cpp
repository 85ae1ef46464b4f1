// The test collector's threads: one accepting, one per connection reading HTTP/1.1 requests with a
// Content-Length body (what an OTLP/HTTP exporter sends) and answering them in order, keep-alive.
#include "tests/integration/test_collector.hpp"

#include <zlib.h>

#include <charconv>

#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

constexpr Millis kPoll = 50ms;        // how often blocked threads look at the stop flag
constexpr Millis kBodyTimeout = 10s;  // a body whose head arrived must follow within this
constexpr std::size_t kMaxBody = 64 * 1024 * 1024;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

// Parses "METHOD target HTTP/1.1\r\nName: value\r\n...\r\n\r\n" into `request`; false when malformed.
bool parse_head(std::string_view head, CollectorRequest& request) {
  auto line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  auto first = line.find(' ');
  auto second = line.find(' ', first + 1);
  if (first == std::string_view::npos || second == std::string_view::npos) return false;
  request.method = line.substr(0, first);
  request.target = line.substr(first + 1, second - first - 1);
  head.remove_prefix(line_end + 2);
  while (!head.empty()) {
    line_end = head.find("\r\n");
    line = head.substr(0, line_end);
    head.remove_prefix(line_end == std::string_view::npos ? head.size() : line_end + 2);
    if (line.empty()) continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    request.headers.emplace_back(std::string(line.substr(0, colon)),
                                 std::string(trim(line.substr(colon + 1))));
  }
  return true;
}

}  // namespace

std::optional<std::string> CollectorRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (iequals(key, name)) return value;
  return std::nullopt;
}

std::optional<std::string> gunzip(std::string_view compressed) {
  z_stream stream{};
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) return std::nullopt;
  std::string out;
  char chunk[64 * 1024];
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(chunk);
    stream.avail_out = sizeof chunk;
    rc = inflate(&stream, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - stream.avail_out);
    if (rc == Z_BUF_ERROR && stream.avail_in == 0) break;  // input ended before the stream did
  }
  const bool whole = rc == Z_STREAM_END && stream.avail_in == 0;
  inflateEnd(&stream);
  if (!whole) return std::nullopt;
  return out;
}

TestCollector::TestCollector() : acceptor_([this] { accept_loop(); }) {}

TestCollector::~TestCollector() {
  stopping_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> connections;
  {
    std::lock_guard lock(mutex_);
    connections.swap(connections_);
  }
  for (auto& thread : connections) thread.join();
}

std::string TestCollector::endpoint(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port()) + std::string(path);
}

void TestCollector::script(CollectorReply reply) {
  std::lock_guard lock(mutex_);
  script_.push_back(std::move(reply));
}

void TestCollector::set_default_reply(CollectorReply reply) {
  std::lock_guard lock(mutex_);
  default_reply_ = std::move(reply);
}

std::vector<CollectorRequest> TestCollector::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t TestCollector::request_count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

bool TestCollector::wait_for_requests(std::size_t n, Millis timeout) const {
  return poll_until([&] { return request_count() >= n; }, timeout);
}

CollectorReply TestCollector::next_reply() {
  // Under mutex_.
  if (script_.empty()) return default_reply_;
  CollectorReply reply = std::move(script_.front());
  script_.pop_front();
  return reply;
}

void TestCollector::accept_loop() {
  while (!stopping_) {
    std::optional<RawConnection> connection = listener_.accept(kPoll);
    if (!connection) continue;
    std::lock_guard lock(mutex_);
    connections_.emplace_back([this, c = std::move(*connection)]() mutable { serve(std::move(c)); });
  }
}

void TestCollector::serve(RawConnection connection) {
  while (!stopping_) {
    std::optional<std::string> head = connection.read_until("\r\n\r\n", kPoll);
    if (!head) {
      if (connection.peer_closed()) return;
      continue;
    }
    CollectorRequest request;
    request.received = std::chrono::steady_clock::now();
    std::size_t length = 0;
    bool framed = parse_head(*head, request);
    if (framed) {
      auto content_length = request.header("Content-Length");
      framed = content_length && !request.header("Transfer-Encoding");
      if (framed) {
        auto [end, ec] =
            std::from_chars(content_length->data(), content_length->data() + content_length->size(), length);
        framed =
            ec == std::errc() && end == content_length->data() + content_length->size() && length <= kMaxBody;
      }
    }
    if (!framed) {
      request.error = "unsupported or malformed head:\n" + *head;
    } else if (auto body = connection.read_exact(length, kBodyTimeout)) {
      request.wire_body = std::move(*body);
      auto encoding = request.header("Content-Encoding");
      if (encoding && iequals(*encoding, "gzip")) {
        auto plain = gunzip(request.wire_body);
        if (plain)
          request.body = std::move(*plain);
        else
          request.error = "Content-Encoding gzip, but the body is not a whole gzip stream";
      } else {
        request.body = request.wire_body;
      }
    } else {
      request.error = "body shorter than Content-Length " + std::to_string(length);
      framed = false;
    }

    CollectorReply reply;
    {
      std::lock_guard lock(mutex_);
      reply = next_reply();
      request.answered = reply.hang ? 0 : reply.status;
      requests_.push_back(std::move(request));
    }
    if (!framed) return;  // the connection's framing is lost: close it
    if (reply.hang) {
      // Hold the request unanswered until the exporter gives up (closes) or the collector stops.
      while (!stopping_) {
        ReadStatus status = connection.read_some(kPoll);
        if (status == ReadStatus::closed || status == ReadStatus::reset) return;
      }
      return;
    }
    std::string response =
        "HTTP/1.1 " + std::to_string(reply.status) + " " + std::string(reason_phrase(reply.status)) +
        "\r\nContent-Type: application/x-protobuf\r\nContent-Length: " + std::to_string(reply.body.size()) +
        "\r\n";
    for (const auto& [name, value] : reply.headers) response += name + ": " + value + "\r\n";
    response += "\r\n" + reply.body;
    if (!connection.send(response, 5s)) return;
  }
}

std::vector<ExportedSpan> TestCollector::accepted_spans() {
  std::vector<CollectorRequest> all = requests();
  std::lock_guard lock(decode_mutex_);
  std::vector<ExportedSpan> spans;
  if (decoded_.size() < all.size()) decoded_.resize(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].answered < 200 || all[i].answered >= 300 || !all[i].error.empty()) continue;
    if (!decoded_[i]) {
      decoded_[i] = decode_otlp_traces(all[i].body);
      if (!decoded_[i]->error.empty())
        decode_errors_ += "request " + std::to_string(i) + ": " + decoded_[i]->error + "\n";
    }
    spans.insert(spans.end(), decoded_[i]->spans.begin(), decoded_[i]->spans.end());
  }
  return spans;
}

std::string TestCollector::decode_errors() {
  std::lock_guard lock(decode_mutex_);
  return decode_errors_;
}

std::vector<ExportedSpan> TestCollector::wait_for_spans(
    std::size_t n, Millis timeout, const std::function<bool(const ExportedSpan&)>& filter) {
  std::vector<ExportedSpan> matching;
  poll_until(
      [&] {
        std::vector<ExportedSpan> spans = accepted_spans();
        matching = filter ? spans_where(spans, filter) : std::move(spans);
        return matching.size() >= n;
      },
      timeout, kPoll);
  return matching;
}

}  // namespace apimeter::test
