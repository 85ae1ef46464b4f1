// "No allocation in steady state": once its series exist, the complete step and the other worker calls
// allocate nothing, even while the user sketch evicts and unmatched paths are templated.
// This file replaces the global operator new/delete of the unit test binary with counting versions that
// forward to malloc/free; no other test file may replace them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "metrics/metrics_registry.hpp"
#include "metrics_test_support.hpp"

namespace {
thread_local std::uint64_t tl_allocations = 0;
}

// GCC cannot see that these replace the global pair, so it would warn about malloc'd memory in delete.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  ++tl_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace apimeter::metrics {
namespace {

using testing::Exchange;

TEST(WorkerMetricsAllocation, RecordAllocatesNothingOnceItsSeriesExist) {
  auto settings = std::make_shared<MetricsSettings>();
  settings->service = "shop";
  settings->route_labels = {"/api/orders/{id}"};
  settings->top_users = 5;  // 40 sketch entries for 1000 users: every new user evicts
  settings->user_source = {UserIdentitySource::Kind::header, "X-User"};
  settings->extra_labels = {{"kind", ExtraLabel::Source::query, "type", {"a", "b"}, 10}};
  MetricsRegistry registry(1, {"t", "t"}, settings);
  WorkerMetrics& w = registry.worker(0);

  std::vector<std::string> users, paths;
  for (int i = 0; i < 1000; ++i) users.push_back(std::string("user-") + std::to_string(i));
  for (int i = 0; i < 1000; ++i) paths.push_back(std::string("/users/") + std::to_string(i) + std::string("/orders/") + std::to_string(i * 31));
  const std::array<std::string_view, 1> kind_a{"a"}, kind_other{"zzz"};

  auto one_round = [&](int i) {
    const std::string& user = users[static_cast<std::size_t>(i) % users.size()];
    UserToken token = w.user_started(user);
    w.request_started();
    w.record(Exchange("GET", "/api/orders/1", 200).route(0, "/api/orders/{id}").user(user), kind_a);
    w.record(Exchange("GET", paths[static_cast<std::size_t>(i) % paths.size()], 404).user(user), kind_other);
    w.record(Exchange("POST", "/api/orders/2", 502).route(0, "/api/orders/{id}").error("upstream_refused").no_upstream());
    w.request_finished();
    w.user_finished(token);
    w.connection_opened();
    w.upstream_pool(3, 1);
    w.upstream_connect_error("upstream_refused");
    w.connection_closed();
  };
  for (int i = 0; i < 50; ++i) one_round(i);  // every series, template and error type now exists
  (void)registry.Collect();                   // and a scrape has happened

  const std::uint64_t before = tl_allocations;
  for (int i = 0; i < 20000; ++i) one_round(i);
  EXPECT_EQ(tl_allocations - before, 0u);
}

}  // namespace
}  // namespace apimeter::metrics
