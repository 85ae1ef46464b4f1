// Batching, sending, retrying and shutdown of span exports.
#include "tracing/otlp_exporter.hpp"

#include <algorithm>

#include "common/gzip.hpp"
#include "tracing/otlp_request.hpp"

namespace apimeter::tracing {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(20);

bool retryable(const PostOutcome& outcome) {
  return outcome.status == 0 || outcome.status == 429 || outcome.status == 502 || outcome.status == 503 ||
         outcome.status == 504;
}

std::size_t count_frames(std::string_view framed) {
  SpanFrames frames(framed);
  std::string_view span;
  std::size_t n = 0;
  while (frames.next(span)) ++n;
  return n;
}

}  // namespace

OtlpExporter::OtlpExporter(unsigned workers, std::size_t ring_bytes_per_worker, std::string version)
    : version_(std::move(version)) {
  const std::size_t share = std::max<std::size_t>(1, settings_.max_queue_spans / std::max(1u, workers));
  for (unsigned i = 0; i < workers; ++i) buffers_.push_back(std::make_unique<SpanBuffer>(ring_bytes_per_worker, share));
}

OtlpExporter::~OtlpExporter() { shutdown(std::chrono::milliseconds(0)); }

void OtlpExporter::configure(ExporterSettings settings) {
  const std::size_t share = std::max<std::size_t>(1, settings.max_queue_spans / std::max<std::size_t>(1, buffers_.size()));
  for (auto& b : buffers_) b->set_max_spans(share);
  std::lock_guard lock(mutex_);
  settings_ = std::move(settings);
  settings_changed_ = true;
}

void OtlpExporter::set_reporter(std::function<void(std::string_view, bool)> reporter) {
  std::lock_guard lock(mutex_);
  reporter_ = std::move(reporter);
}

void OtlpExporter::start() {
  thread_ = std::thread([this] { run(); });
}

void OtlpExporter::shutdown(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      stop_deadline_ = SteadyClock::now() + timeout;
    }
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::uint64_t OtlpExporter::dropped_queue_full() const noexcept {
  std::uint64_t total = 0;
  for (const auto& b : buffers_) total += b->dropped();
  return total;
}

std::uint64_t OtlpExporter::queued_spans() const noexcept {
  std::uint64_t total = stats_.pending_spans.load(std::memory_order_relaxed);
  for (const auto& b : buffers_) total += b->queued();
  return total;
}

void OtlpExporter::report(std::string_view message, bool failing) {
  std::function<void(std::string_view, bool)> reporter;
  {
    std::lock_guard lock(mutex_);
    reporter = reporter_;
  }
  if (reporter) reporter(message, failing);
}

void OtlpExporter::collect() {
  for (auto& b : buffers_) {
    if (pending_spans_ >= active_.max_batch_spans) break;
    const std::size_t before = pending_.size();
    if (b->drain_into(pending_) == 0) continue;
    const std::size_t n = count_frames(std::string_view(pending_).substr(before));
    b->drained(n);
    pending_spans_ += n;
  }
  stats_.pending_spans.store(pending_spans_, std::memory_order_relaxed);
}

void OtlpExporter::drop_pending(std::size_t spans, DropReason reason) {
  SpanFrames frames(pending_);
  std::string_view span;
  std::size_t n = 0;
  while (n < spans && frames.next(span)) ++n;
  pending_.erase(0, frames.consumed());
  pending_spans_ -= n;
  if (reason != DropReason::kCount) stats_.drop(reason, n);
  stats_.pending_spans.store(pending_spans_, std::memory_order_relaxed);
}

bool OtlpExporter::wait_until(SteadyClock::time_point until) {
  std::unique_lock lock(mutex_);
  while (!stopping_ && SteadyClock::now() < until) {
    wake_.wait_until(lock, std::min(until, SteadyClock::now() + kPollInterval));
    lock.unlock();
    collect();
    lock.lock();
  }
  return !stopping_;
}

void OtlpExporter::export_batch(SteadyClock::time_point give_up) {
  const std::size_t count = std::min(pending_spans_, active_.max_batch_spans);
  std::string body = encode_export_request(resource_, version_, pending_, count);
  if (active_.gzip) body = gzip(body);

  const auto first_attempt = SteadyClock::now();
  auto backoff = active_.retry_initial_backoff;
  while (true) {
    const auto started = SteadyClock::now();
    const auto deadline = std::min(started + active_.timeout, give_up);
    PostOutcome outcome;
    if (started < deadline) outcome = client_.post(active_, body, active_.gzip, deadline);
    else outcome.error = "no time left to export";
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();

    if (outcome.status >= 200 && outcome.status < 300) {
      stats_.request(ExportResult::success, seconds);
      const auto rejected = static_cast<std::size_t>(std::min<std::int64_t>(rejected_spans(outcome.body), static_cast<std::int64_t>(count)));
      ExportStats::bump(stats_.spans_exported, count - rejected);
      if (rejected > 0) stats_.drop(DropReason::rejected, rejected);
      drop_pending(count, DropReason::kCount);
      if (failing_) {
        failing_ = false;
        report("span export to " + active_.url + " recovered", false);
      }
      return;
    }
    const std::string what = outcome.status != 0 ? "HTTP " + std::to_string(outcome.status) : outcome.error;
    if (!retryable(outcome)) {
      stats_.request(ExportResult::error, seconds);
      report("span export to " + active_.url + " refused (" + what + "); " + std::to_string(count) +
                 " spans dropped, not retried",
             true);
      failing_ = true;
      return drop_pending(count, DropReason::export_failed);
    }
    stats_.request(ExportResult::retryable_error, seconds);
    // Full jitter on the upper half of the backoff, unless the collector said when to come back.
    std::chrono::milliseconds wait = backoff / 2 + std::chrono::milliseconds(
        std::uniform_int_distribution<std::int64_t>(0, std::max<std::int64_t>(0, backoff.count() - backoff.count() / 2))(jitter_));
    if (outcome.retry_after) wait = *outcome.retry_after;
    backoff = std::min(backoff * 2, active_.retry_max_backoff);
    const auto retry_at = SteadyClock::now() + wait;
    if (!failing_) {
      failing_ = true;
      report("span export to " + active_.url + " failed (" + what + "); retrying", true);
    }
    if (retry_at - first_attempt > active_.retry_max_elapsed || retry_at > give_up) {
      const bool stopping = give_up != SteadyClock::time_point::max();
      return drop_pending(count, stopping ? DropReason::shutdown : DropReason::export_failed);
    }
    if (!wait_until(retry_at)) {
      // Shutdown arrived while waiting: retry within the shutdown deadline only.
      std::lock_guard lock(mutex_);
      give_up = std::min(give_up, stop_deadline_);
    }
  }
}

void OtlpExporter::run() {
  auto last_export = SteadyClock::now();
  while (true) {
    bool stopping = false;
    SteadyClock::time_point stop_deadline;
    {
      std::unique_lock lock(mutex_);
      // A full batch already waiting goes out at once; otherwise poll the workers' buffers every 20 ms.
      if (!stopping_ && pending_spans_ < active_.max_batch_spans) wake_.wait_for(lock, kPollInterval);
      if (settings_changed_) {
        active_ = settings_;
        settings_changed_ = false;
        resource_ = encode_resource(active_.resource);
      }
      stopping = stopping_;
      stop_deadline = stop_deadline_;
    }
    collect();
    if (stopping) {
      // Flush: batch after batch until everything queued is out or the deadline passes.
      while (pending_spans_ > 0 && SteadyClock::now() < stop_deadline) {
        export_batch(stop_deadline);
        collect();
      }
      drop_pending(pending_spans_, DropReason::shutdown);
      for (auto& b : buffers_) {
        std::string rest;
        b->drain_into(rest);
        const std::size_t n = count_frames(rest);
        b->drained(n);
        stats_.drop(DropReason::shutdown, n);
      }
      client_.close();
      return;
    }
    const auto now = SteadyClock::now();
    if (pending_spans_ >= active_.max_batch_spans || (pending_spans_ > 0 && now - last_export >= active_.batch_delay)) {
      export_batch(SteadyClock::time_point::max());
      last_export = SteadyClock::now();
    }
  }
}

}  // namespace apimeter::tracing
