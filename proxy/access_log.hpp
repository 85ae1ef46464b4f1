// The JSON access log: one line per exchange in Elastic Common Schema / OpenTelemetry field names. Workers
// format into their own lock-free single-producer ring; one flusher thread writes the rings to stdout or a
// file, so a slow disk or pipe never blocks a worker (lines are dropped and counted instead).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/request_record.hpp"
#include "common/spsc_byte_ring.hpp"
#include "control/config.hpp"

namespace apimeter {

// One worker's side of the log. write() runs on that worker's thread only.
class AccessLogWriter {
 public:
  explicit AccessLogWriter(std::size_t ring_bytes);
  void set_enabled(bool enabled) noexcept { enabled_.store(enabled, std::memory_order_relaxed); }
  void set_service(std::string_view service) noexcept;  // worker thread, on snapshot change
  void write(const RequestRecord& record) noexcept;
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  // Flusher side: copies out what is committed; returns bytes appended to `out`.
  std::size_t drain_into(std::string& out) { return ring_.drain_into(out); }

 private:
  SpscByteRing ring_;
  std::atomic<bool> enabled_{true};
  std::atomic<std::uint64_t> dropped_{0};
  std::string service_;
  // Cached "YYYY-MM-DDTHH:MM:SS" of the last second formatted, to avoid gmtime per line.
  std::int64_t cached_second_ = -1;
  char cached_time_[32] = {};
  char line_[8192];
};

class AccessLog {
 public:
  AccessLog(unsigned workers, std::size_t ring_bytes_per_worker = 1 << 20);
  ~AccessLog();
  // Opens the destination (main thread); throws std::runtime_error when a file cannot be opened.
  void configure(AccessLogMode mode, const std::string& path, std::string_view service);
  void start();
  void stop();  // flushes what is queued, then joins
  AccessLogWriter& writer(unsigned worker) { return *writers_[worker]; }
  std::uint64_t dropped() const noexcept;

 private:
  void run();
  void flush_once(std::string& scratch);
  std::vector<std::unique_ptr<AccessLogWriter>> writers_;
  int fd_ = 1;
  bool own_fd_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace apimeter
