// The demo MES (manufacturing execution) API: work orders, machine telemetry and status, 3D part models
// to download, and two slow routes (the production schedule and quality reports). Work orders arrive as
// order events from the CRM; `order_event_is_valid` decides which ones the MES worker accepts and which it
// rejects into the dead-letter queue.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "tests/support/demo_upstream_api.hpp"

namespace apimeter::demo {

// True for the order events the MES can turn into work orders:
// {"order_id":N,"customer_id":N,"items":[{"sku":"...","qty":N}, ...]} (whitespace allowed between tokens,
// at least one item, ids and quantities positive). Anything else is malformed.
bool order_event_is_valid(std::string_view event);

// Counts of the order events the MES worker took, shared by its consumer thread and the API's workers.
struct OrderIntake {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> rejected{0};
};

class Mes final : public Api {
 public:
  // `intake` may be null (no consumer running); it must outlive the API.
  Mes(std::uint64_t seed, OrderIntake const* intake) : prng_(seed), intake_(intake) {}

  ApiReply handle(ApiRequest const& request) override;

 private:
  ApiReply list_work_orders();
  ApiReply get_work_order(std::string_view id);
  ApiReply machine_status(std::string_view id);
  ApiReply record_telemetry(std::string_view id, std::uint64_t body_bytes);
  ApiReply part_model(std::string_view id);
  ApiReply schedule();
  ApiReply quality_report(std::string_view id);

  Prng prng_;
  OrderIntake const* intake_;
};

}  // namespace apimeter::demo
