// The demo's RabbitMQ publisher and consumer over librabbitmq's blocking API, each on its own thread.
#include "tests/support/demo_upstream_amqp.hpp"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <utility>

#include "tests/support/demo_upstream_text.hpp"

namespace apimeter::demo {
namespace {

constexpr std::uint16_t kChannel = 1;
constexpr int kFrameMax = 131072;
// Unacknowledged deliveries the MES worker takes at once.
constexpr std::uint16_t kPrefetch = 50;
constexpr auto kReconnectDelay = std::chrono::seconds(1);
constexpr timeval kConnectTimeout{2, 0};

amqp_bytes_t bytes_of(std::string_view text) {
  return amqp_bytes_t{text.size(), const_cast<char*>(text.data())};
}

bool rpc_ok(amqp_connection_state_t conn, std::string& error, std::string_view step) {
  auto const reply = amqp_get_rpc_reply(conn);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return true;
  if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
    error = fmt::format("{}: {}", step, amqp_error_string2(reply.library_error));
  } else {
    error = fmt::format("{}: refused by the broker", step);
  }
  return false;
}

// One AMQP connection with channel 1 open, closed and destroyed with the object.
class Connection {
 public:
  Connection() : conn_(amqp_new_connection()) {}
  ~Connection() {
    if (open_) {
      amqp_channel_close(conn_, kChannel, AMQP_REPLY_SUCCESS);
      amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(conn_);
  }
  Connection(Connection const&) = delete;
  Connection& operator=(Connection const&) = delete;

  // Connects, logs in and opens the channel; an error message on failure.
  std::optional<std::string> open(AmqpAddress const& address) {
    auto* socket = amqp_tcp_socket_new(conn_);
    if (socket == nullptr) return "cannot create a socket";
    auto timeout = kConnectTimeout;
    if (int const rc = amqp_socket_open_noblock(socket, address.host.c_str(), address.port, &timeout);
        rc != AMQP_STATUS_OK) {
      return fmt::format("connect to {}:{}: {}", address.host, address.port, amqp_error_string2(rc));
    }
    auto const login = amqp_login(conn_, address.vhost.c_str(), 0, kFrameMax, 0, AMQP_SASL_METHOD_PLAIN,
                                  address.user.c_str(), address.password.c_str());
    if (login.reply_type != AMQP_RESPONSE_NORMAL) return fmt::format("login as {} refused", address.user);
    amqp_channel_open(conn_, kChannel);
    std::string error;
    if (!rpc_ok(conn_, error, "channel open")) return error;
    open_ = true;
    return std::nullopt;
  }

  amqp_connection_state_t get() const { return conn_; }

 private:
  amqp_connection_state_t conn_;
  bool open_ = false;
};

// Logs a link's state only when it changes, so a broker that stays away does not flood stderr.
class StateLog {
 public:
  explicit StateLog(std::string_view who) : who_(who) {}
  void report(std::string const& state) {
    if (state == last_) return;
    last_ = state;
    fmt::print(stderr, "demo_upstream: amqp {}: {}\n", who_, state);
  }

 private:
  std::string_view who_;
  std::string last_;
};

}  // namespace

std::optional<std::string> parse_amqp_url(std::string_view url, AmqpAddress& out) {
  constexpr std::string_view kScheme = "amqp://";
  if (!url.starts_with(kScheme)) return "the AMQP URL must start with amqp://";
  auto rest = url.substr(kScheme.size());
  AmqpAddress address;
  auto const slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  if (slash != std::string_view::npos && slash + 1 < rest.size()) address.vhost = url_decode(rest.substr(slash + 1));
  if (auto const at = authority.rfind('@'); at != std::string_view::npos) {
    auto const credentials = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto const colon = credentials.find(':');
    address.user = url_decode(credentials.substr(0, colon));
    address.password = colon == std::string_view::npos ? "" : url_decode(credentials.substr(colon + 1));
  }
  auto const colon = authority.rfind(':');
  address.host = std::string(authority.substr(0, colon));
  if (colon != std::string_view::npos) {
    auto const port = parse_uint(authority.substr(colon + 1));
    if (!port || *port == 0 || *port > 65535) return fmt::format("bad port in AMQP URL '{}'", url);
    address.port = static_cast<std::uint16_t>(*port);
  }
  if (address.host.empty()) return fmt::format("no host in AMQP URL '{}'", url);
  out = std::move(address);
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------------
// Publisher

AmqpPublisher::AmqpPublisher(AmqpAddress address) : address_(std::move(address)), thread_([this] { run(); }) {}

AmqpPublisher::~AmqpPublisher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool AmqpPublisher::publish(std::string_view routing_key, std::string_view body) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= kMaxQueued) return false;
    queue_.push_back(Event{std::string(routing_key), std::string(body)});
  }
  wake_.notify_one();
  return true;
}

void AmqpPublisher::run() {
  StateLog log("publisher");
  while (true) {
    Connection connection;
    if (auto const error = connection.open(address_)) {
      log.report(*error);
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, kReconnectDelay, [this] { return stopping_; })) return;
      continue;
    }
    log.report(fmt::format("connected to {}:{}", address_.host, address_.port));
    amqp_basic_properties_t properties{};
    properties._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    properties.content_type = amqp_cstring_bytes("application/json");
    properties.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    while (true) {
      Event event;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        event = std::move(queue_.front());
        queue_.pop_front();
      }
      int const rc = amqp_basic_publish(connection.get(), kChannel, bytes_of(kOrderExchange),
                                        bytes_of(event.routing_key), 0, 0, &properties, bytes_of(event.body));
      if (rc != AMQP_STATUS_OK) {
        log.report(fmt::format("publish failed: {}; reconnecting", amqp_error_string2(rc)));
        // The event goes back to the front: the broker never took it.
        std::lock_guard lock(mutex_);
        queue_.push_front(std::move(event));
        break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Consumer

AmqpOrderConsumer::AmqpOrderConsumer(AmqpAddress address, OrderIntake& intake)
    : address_(std::move(address)), intake_(intake), thread_([this] { run(); }) {}

AmqpOrderConsumer::~AmqpOrderConsumer() {
  stopping_.store(true, std::memory_order_relaxed);
  thread_.join();
}

void AmqpOrderConsumer::run() {
  StateLog log("consumer");
  while (!stopping_.load(std::memory_order_relaxed)) {
    Connection connection;
    auto* conn = connection.get();
    std::string error;
    if (auto const open_error = connection.open(address_)) {
      error = *open_error;
    } else {
      amqp_basic_qos(conn, kChannel, 0, kPrefetch, 0);
      if (rpc_ok(conn, error, "qos")) {
        amqp_basic_consume(conn, kChannel, bytes_of(kOrderQueue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
        if (rpc_ok(conn, error, fmt::format("consume {}", kOrderQueue))) {
          log.report(fmt::format("consuming {} on {}:{}", kOrderQueue, address_.host, address_.port));
        }
      }
    }
    while (error.empty() && !stopping_.load(std::memory_order_relaxed)) {
      amqp_maybe_release_buffers(conn);
      amqp_envelope_t envelope;
      // Wakes up regularly to see whether the process is stopping.
      timeval timeout{0, 200 * 1000};
      auto const reply = amqp_consume_message(conn, &envelope, &timeout, 0);
      if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT) {
        continue;
      }
      if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
        error = "connection lost";
        break;
      }
      std::string_view const body(static_cast<char const*>(envelope.message.body.bytes), envelope.message.body.len);
      int rc = 0;
      if (order_event_is_valid(body)) {
        rc = amqp_basic_ack(conn, kChannel, envelope.delivery_tag, 0);
        intake_.accepted.fetch_add(1, std::memory_order_relaxed);
      } else {
        // requeue=false: the queue's dead-letter exchange takes it.
        rc = amqp_basic_reject(conn, kChannel, envelope.delivery_tag, 0);
        intake_.rejected.fetch_add(1, std::memory_order_relaxed);
      }
      amqp_destroy_envelope(&envelope);
      if (rc != AMQP_STATUS_OK) error = fmt::format("ack: {}", amqp_error_string2(rc));
    }
    if (stopping_.load(std::memory_order_relaxed)) return;
    log.report(error);
    std::this_thread::sleep_for(kReconnectDelay);
  }
}

}  // namespace apimeter::demo
