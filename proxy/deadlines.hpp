// The phase deadlines of one connection or one HTTP/2 stream on one timer: setting one is a store (the
// timer is re-armed only when it must fire earlier), clearing one is lazy (the timer finds nothing due).
// Owners keep their do_X / on_X pairs and set the deadline right before the operation it bounds. Worker
// thread only; no allocation.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>

#include "common/asio_types.hpp"
#include "common/request_record.hpp"
#include "control/limits.hpp"

namespace apimeter {

template <typename Kind>  // an enum class with kCount last
class Deadlines {
 public:
  explicit Deadlines(const Executor& executor) : timer_(executor) { at_.fill(Clock::time_point::max()); }

  // `kind` is due `timeout` from now (0: never). `arm` re-arms the timer when this is the earliest:
  // arm(timer) must start timer.async_wait with a handler that keeps the owner alive and calls fired().
  template <typename Arm>
  void set(Kind kind, Duration timeout, Arm&& arm) noexcept {
    at_[index(kind)] = timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
    rearm(std::forward<Arm>(arm));
  }
  void clear(Kind kind) noexcept { at_[index(kind)] = Clock::time_point::max(); }
  void clear_all() noexcept { at_.fill(Clock::time_point::max()); }
  Clock::time_point at(Kind kind) const noexcept { return at_[index(kind)]; }
  void cancel() noexcept { timer_.cancel(); }

  // The timer fired: each deadline past now is cleared and handed to due(kind), which returns false to
  // stop (the owner ended); then the timer is re-armed for what is left.
  template <typename Due, typename Arm>
  void fired(Due&& due, Arm&& arm) {
    expiry_ = Clock::time_point::max();
    const auto now = Clock::now();
    for (std::size_t k = 0; k < at_.size(); ++k) {
      if (at_[k] > now) continue;
      at_[k] = Clock::time_point::max();
      if (!due(static_cast<Kind>(k))) return;
    }
    rearm(std::forward<Arm>(arm));
  }

 private:
  static constexpr std::size_t index(Kind kind) noexcept { return static_cast<std::size_t>(kind); }
  template <typename Arm>
  void rearm(Arm&& arm) noexcept {
    const Clock::time_point next = *std::min_element(at_.begin(), at_.end());
    if (next == Clock::time_point::max() || next >= expiry_) return;
    expiry_ = next;
    timer_.expires_at(next);
    arm(timer_);
  }

  Timer timer_;
  std::array<Clock::time_point, static_cast<std::size_t>(Kind::kCount)> at_{};
  Clock::time_point expiry_ = Clock::time_point::max();
};

}  // namespace apimeter
