// Access log formatting (worker thread, fixed buffer, no allocation) and the flusher thread.
#include "proxy/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "proxy/http1/header_rewriter.hpp"
#include "proxy/json_escape.hpp"
#include "tracing/trace_propagation.hpp"

namespace apimeter {
namespace {

constexpr std::size_t kMaxLoggedPath = 2048;
constexpr std::size_t kMaxLoggedUserAgent = 512;

void write_all(int fd, const char* data, std::size_t size) noexcept {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere to report a failing log sink; drop
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

}  // namespace

AccessLogWriter::AccessLogWriter(std::size_t ring_bytes) : ring_(ring_bytes) {}

void AccessLogWriter::set_service(std::string_view service) noexcept {
  try {
    service_.assign(service);
  } catch (...) {
  }
}

void AccessLogWriter::write(const RequestRecord& r) noexcept {
  if (!enabled_.load(std::memory_order_relaxed)) return;
  HeadWriter out(line_, sizeof line_);

  auto wall = r.wall_start;
  auto since_epoch = wall.time_since_epoch();
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
  if (seconds != cached_second_) {
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(cached_time_, sizeof cached_time_, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_second_ = seconds;
  }
  char ms[6] = {'.', static_cast<char>('0' + millis / 100), static_cast<char>('0' + millis / 10 % 10),
                static_cast<char>('0' + millis % 10), 'Z', '"'};

  out.append("{\"@timestamp\":\"");
  out.append(cached_time_);
  out.append(std::string_view(ms, 6));
  out.append(",\"log.level\":\"info\",\"ecs.version\":\"8.11.0\",\"event.dataset\":\"apimeter.access\"");
  out.append(",\"service.name\":\"");
  append_json_escaped(out, service_);
  out.append("\",\"http.request.method\":\"");
  append_json_escaped(out, r.method, 32);
  out.append("\",\"url.scheme\":\"");
  out.append(r.scheme);
  out.append("\",\"url.path\":\"");
  append_json_escaped(out, r.path, kMaxLoggedPath);
  out.append("\",\"http.route\":\"");
  append_json_escaped(out, r.route_label);
  out.append("\",\"http.response.status_code\":");
  out.append_uint(static_cast<std::uint64_t>(r.status));
  out.append(",\"network.protocol.version\":\"");
  out.append(network_protocol_version(r.version));
  out.append("\",\"http.request.bytes\":");
  out.append_uint(r.received_bytes);
  out.append(",\"http.response.bytes\":");
  out.append_uint(r.sent_bytes);
  out.append(",\"http.request.body.bytes\":");
  out.append_uint(r.request_body_bytes);
  out.append(",\"http.response.body.bytes\":");
  out.append_uint(r.response_body_bytes);
  out.append(",\"event.duration\":");
  out.append_uint(RequestRecord::nanoseconds(r.total()));
  out.append(",\"apimeter.upstream.duration\":");
  out.append_uint(RequestRecord::nanoseconds(r.upstream_time()));
  out.append(",\"apimeter.upstream.address\":\"");
  append_json_escaped(out, r.upstream_address);
  out.append("\",\"client.address\":\"");
  append_json_escaped(out, r.client_address);
  out.append("\",\"client.port\":");
  out.append_uint(r.client_port);
  out.append(",\"user_agent.original\":\"");
  append_json_escaped(out, r.user_agent, kMaxLoggedUserAgent);
  out.append("\"");
  if (r.trace.active) {
    // The OTel log data model's names, which Elastic maps to trace.id / span.id.
    char ids[48];
    tracing::write_hex(r.trace.trace_id, ids);
    tracing::write_hex(r.trace.server_span_id, ids + 32);
    out.append(",\"trace_id\":\"");
    out.append(std::string_view(ids, 32));
    out.append("\",\"span_id\":\"");
    out.append(std::string_view(ids + 32, 16));
    out.append("\"");
  }
  if (!r.error_type.empty()) {
    out.append(",\"error.type\":\"");
    out.append(r.error_type);
    out.append("\"");
  }
  out.append("}\n");
  if (out.overflowed() || !ring_.push(out.view())) dropped_.fetch_add(1, std::memory_order_relaxed);
}

AccessLog::AccessLog(unsigned workers, std::size_t ring_bytes_per_worker) {
  for (unsigned i = 0; i < workers; ++i) writers_.push_back(std::make_unique<AccessLogWriter>(ring_bytes_per_worker));
}

AccessLog::~AccessLog() {
  stop();
  if (own_fd_) ::close(fd_);
}

void AccessLog::configure(AccessLogMode mode, const std::string& path, std::string_view service) {
  if (mode == AccessLogMode::file) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot open access log " + path + ": " + std::strerror(errno));
    if (own_fd_) ::close(fd_);
    fd_ = fd;
    own_fd_ = true;
  }
  for (auto& w : writers_) {
    w->set_enabled(mode != AccessLogMode::off);
    w->set_service(service);
  }
}

void AccessLog::start() {
  thread_ = std::thread([this] { run(); });
}

void AccessLog::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::string scratch;
  flush_once(scratch);
}

std::uint64_t AccessLog::dropped() const noexcept {
  std::uint64_t total = 0;
  for (const auto& w : writers_) total += w->dropped();
  return total;
}

void AccessLog::flush_once(std::string& scratch) {
  scratch.clear();
  for (auto& w : writers_) w->drain_into(scratch);
  if (!scratch.empty()) write_all(fd_, scratch.data(), scratch.size());
}

void AccessLog::run() {
  std::string scratch;
  scratch.reserve(1 << 20);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // Polling keeps the workers free of any wake-up syscall; 20 ms is well below what a log reader notices.
    wake_.wait_for(lock, std::chrono::milliseconds(20));
    lock.unlock();
    flush_once(scratch);
    lock.lock();
  }
}

}  // namespace apimeter
