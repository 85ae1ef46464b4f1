// The demo's link to RabbitMQ (librabbitmq, AMQP 0-9-1): the CRM's order-event publisher and the MES
// worker that consumes those events, acking the valid ones and rejecting malformed ones without requeue so
// the broker dead-letters them. Each runs on its own thread with its own connection (librabbitmq
// connections are not thread-safe) and reconnects after a broker restart; the API workers only touch the
// publisher's bounded queue.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "tests/support/demo_upstream_api.hpp"
#include "tests/support/demo_upstream_mes.hpp"

namespace apimeter::demo {

// Where the broker is: amqp://USER:PASSWORD@HOST:PORT/VHOST (port 5672 and vhost "/" by default).
struct AmqpAddress {
  std::string host;
  std::uint16_t port = 5672;
  std::string user = "guest";
  std::string password = "guest";
  std::string vhost = "/";
};
// An error message on a malformed URL.
std::optional<std::string> parse_amqp_url(std::string_view url, AmqpAddress& out);

// The exchange the CRM publishes order events to and the queue the MES worker consumes (see
// conf/rabbitmq/definitions.json for the topology and its dead-letter exchange).
inline constexpr std::string_view kOrderExchange = "crm.events";
inline constexpr std::string_view kOrderQueue = "mes.orders";

class AmqpPublisher final : public EventSink {
 public:
  // Events waiting for the broker beyond this are refused (the CRM answers 503).
  static constexpr std::size_t kMaxQueued = 10000;

  explicit AmqpPublisher(AmqpAddress address);
  ~AmqpPublisher() override;
  AmqpPublisher(AmqpPublisher const&) = delete;
  AmqpPublisher& operator=(AmqpPublisher const&) = delete;

  bool publish(std::string_view routing_key, std::string_view body) override;

 private:
  struct Event {
    std::string routing_key;
    std::string body;
  };
  void run();

  AmqpAddress address_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Event> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

class AmqpOrderConsumer {
 public:
  AmqpOrderConsumer(AmqpAddress address, OrderIntake& intake);
  ~AmqpOrderConsumer();
  AmqpOrderConsumer(AmqpOrderConsumer const&) = delete;
  AmqpOrderConsumer& operator=(AmqpOrderConsumer const&) = delete;

 private:
  void run();

  AmqpAddress address_;
  OrderIntake& intake_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace apimeter::demo
