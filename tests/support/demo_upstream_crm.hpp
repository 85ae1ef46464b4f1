// The demo CRM API: customers, their deals, a slow pipeline report, and order intake that publishes each
// order as an event for the MES (over RabbitMQ, through an EventSink). The CRM does not validate orders
// beyond "there is a body": a malformed one is published and dead-lettered by the MES worker, as a real
// loosely coupled pair of services would do.
#pragma once

#include <cstdint>
#include <string_view>

#include "tests/support/demo_upstream_api.hpp"

namespace apimeter::demo {

class Crm final : public Api {
 public:
  // `events` may be null: orders then get 503, as when the broker is away.
  Crm(std::uint64_t seed, EventSink* events) : prng_(seed), events_(events) {}

  ApiReply handle(ApiRequest const& request) override;
  bool wants_body() const override { return true; }

 private:
  ApiReply list_customers(std::string_view query);
  ApiReply get_customer(std::string_view id);
  ApiReply create_customer(std::uint64_t body_bytes);
  ApiReply customer_deals(std::string_view id);
  ApiReply submit_order(std::string_view body);
  ApiReply pipeline_report();

  Prng prng_;
  EventSink* events_;
};

}  // namespace apimeter::demo
