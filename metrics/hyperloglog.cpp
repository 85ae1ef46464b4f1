// HyperLogLog registers, Ertl's estimator and the rotating sub-windows (see hyperloglog.hpp). add_hash runs
// per request: one shift, one count of leading zeros, at most one relaxed store.
#include "metrics/hyperloglog.hpp"

#include <bit>
#include <cmath>
#include <limits>

namespace apimeter::metrics {
namespace {

constexpr unsigned kQ = 64 - kHllPrecision;  // bits left for the rank

double sigma(double x) noexcept {
  if (x == 1.0) return std::numeric_limits<double>::infinity();
  double y = 1.0, z = x;
  while (true) {
    x *= x;
    double previous = z;
    z += x * y;
    y += y;
    if (z == previous) return z;
  }
}

double tau(double x) noexcept {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0, z = 1.0 - x;
  while (true) {
    x = std::sqrt(x);
    double previous = z;
    y *= 0.5;
    z -= (1.0 - x) * (1.0 - x) * y;
    if (z == previous) return z / 3.0;
  }
}

}  // namespace

std::uint8_t hll_rank(std::uint64_t hash) noexcept {
  std::uint64_t rest = hash << kHllPrecision;  // the low kQ bits, at the top
  unsigned zeros = rest == 0 ? kQ : static_cast<unsigned>(std::countl_zero(rest));
  if (zeros > kQ) zeros = kQ;
  return static_cast<std::uint8_t>(zeros + 1);
}

double hll_estimate(std::span<const std::uint8_t> registers) noexcept {
  const double m = static_cast<double>(registers.size());
  std::array<std::uint32_t, kQ + 2> histogram{};
  for (std::uint8_t r : registers) ++histogram[r > kQ + 1 ? kQ + 1 : r];
  double z = m * tau(1.0 - histogram[kQ + 1] / m);
  for (int k = static_cast<int>(kQ); k >= 1; --k) z = 0.5 * (z + histogram[static_cast<std::size_t>(k)]);
  z += m * sigma(histogram[0] / m);
  constexpr double kAlphaInf = 0.7213475204444817;  // 1 / (2 ln 2)
  return kAlphaInf * m * m / z;
}

void HyperLogLog::add_hash(std::uint64_t hash) noexcept { merge_register(hll_index(hash), hll_rank(hash)); }

WindowedHyperLogLog::WindowedHyperLogLog() : windows_(new SubWindow[kSubWindows]) {
  for (std::size_t w = 0; w < kSubWindows; ++w)
    for (auto& r : windows_[w].registers) r.store(0, std::memory_order_relaxed);
}

std::int64_t WindowedHyperLogLog::period_of(std::chrono::steady_clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count() / kSubWindow.count();
}

void WindowedHyperLogLog::add_hash(std::uint64_t hash, std::chrono::steady_clock::time_point at) noexcept {
  const std::int64_t period = period_of(at);
  SubWindow& w = windows_[static_cast<std::size_t>(period % static_cast<std::int64_t>(kSubWindows))];
  if (w.period.load(std::memory_order_relaxed) != period) {
    // Entering a new period: the slot still holds data from kSubWindows periods ago (or older).
    for (auto& r : w.registers) r.store(0, std::memory_order_relaxed);
    w.period.store(period, std::memory_order_release);
  }
  auto& reg = w.registers[hll_index(hash)];
  const std::uint8_t rank = hll_rank(hash);
  if (rank > reg.load(std::memory_order_relaxed)) reg.store(rank, std::memory_order_relaxed);
}

void WindowedHyperLogLog::merge_into(HyperLogLog& into, std::chrono::steady_clock::time_point now) const noexcept {
  const std::int64_t current = period_of(now);
  for (std::size_t i = 0; i < kSubWindows; ++i) {
    const SubWindow& w = windows_[i];
    const std::int64_t period = w.period.load(std::memory_order_acquire);
    if (period < 0 || period > current || current - period >= static_cast<std::int64_t>(kSubWindows)) continue;
    for (std::size_t r = 0; r < kHllRegisters; ++r) into.merge_register(r, w.registers[r].load(std::memory_order_relaxed));
  }
}

}  // namespace apimeter::metrics
