// demo_upstream: the demo service behind `make demo` and the monitoring stack (a shop, CRM or MES API), the
// scriptable upstream of the integration tests and the upstream of the benchmark. This file owns the
// command line, the workers' threads, the RabbitMQ link and the shutdown on SIGINT/SIGTERM; requests are
// the session's business (demo_upstream_session.cpp).
#include <fmt/format.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/demo_upstream_amqp.hpp"
#include "tests/support/demo_upstream_text.hpp"
#include "tests/support/demo_upstream_worker.hpp"

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr std::string_view kUsage =
    "usage: demo_upstream [--listen HOST:PORT] [--shape shop|crm|mes] [--amqp URL] [--threads N] [--seed N]\n"
    "                     [--quiet]\n";
constexpr std::string_view kHelp =
    "  --listen HOST:PORT  address to serve on; HOST is an IP literal or localhost, PORT 0 picks a free\n"
    "                      port (default 127.0.0.1:3000). The bound address is printed to stdout as\n"
    "                      \"listening HOST:PORT\" once the server accepts connections.\n"
    "  --threads N         worker threads, each with its own event loop and SO_REUSEPORT acceptor (default "
    "1)\n"
    "  --shape NAME        the API under /api/: shop (default), crm or mes; every shape also serves the\n"
    "                      fault control /_demo/fault and the test endpoints\n"
    "  --amqp URL          RabbitMQ, as amqp://USER:PASSWORD@HOST:PORT/VHOST: the crm shape publishes\n"
    "                      POST /api/orders bodies to the crm.events exchange, the mes shape consumes the\n"
    "                      mes.orders queue and rejects malformed events into its dead-letter queue\n"
    "  --seed N            seed for the API's latencies and failures (default 1)\n"
    "  --quiet             no informational messages on stderr (errors are still reported)\n";

constexpr unsigned kMaxThreads = 256;

struct Options {
  net::ip::address address = net::ip::make_address_v4("127.0.0.1");
  std::uint16_t port = 3000;
  unsigned threads = 1;
  std::uint64_t seed = 1;
  bool quiet = false;
  apimeter::demo::Shape shape = apimeter::demo::Shape::shop;
  std::optional<apimeter::demo::AmqpAddress> amqp;
};

// "HOST:PORT" or "[V6]:PORT"; an error message on failure.
std::optional<std::string> parse_listen(std::string_view text, Options& options) {
  auto const colon = text.rfind(':');
  if (colon == std::string_view::npos) return "--listen wants HOST:PORT";
  auto host = text.substr(0, colon);
  auto const port = apimeter::demo::parse_uint(text.substr(colon + 1));
  if (!port || *port > 65535) return fmt::format("--listen: bad port in '{}'", text);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  auto const address = net::ip::make_address(host, ec);
  if (ec) return fmt::format("--listen: '{}' is not an IP address", host);
  options.address = address;
  options.port = static_cast<std::uint16_t>(*port);
  return std::nullopt;
}

// Fills `options` from argv; an error message on failure. Accepts "--flag value" and "--flag=value".
std::optional<std::string> parse_args(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::optional<std::string_view> inline_value;
    if (auto const eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto const value = [&]() -> std::optional<std::string_view> {
      if (inline_value) return inline_value;
      if (i + 1 < argc) return std::string_view(argv[++i]);
      return std::nullopt;
    };
    if (arg == "--quiet") {
      options.quiet = true;
    } else if (arg == "--listen" || arg == "--threads" || arg == "--seed" || arg == "--shape" || arg == "--amqp") {
      auto const text = value();
      if (!text) return fmt::format("{} needs a value", arg);
      if (arg == "--listen") {
        if (auto error = parse_listen(*text, options)) return error;
        continue;
      }
      if (arg == "--shape") {
        auto const shape = apimeter::demo::parse_shape(*text);
        if (!shape) return fmt::format("--shape wants shop, crm or mes, got '{}'", *text);
        options.shape = *shape;
        continue;
      }
      if (arg == "--amqp") {
        apimeter::demo::AmqpAddress address;
        if (auto error = apimeter::demo::parse_amqp_url(*text, address)) return fmt::format("--amqp: {}", *error);
        options.amqp = std::move(address);
        continue;
      }
      auto const number = apimeter::demo::parse_uint(*text);
      if (arg == "--seed") {
        if (!number) return fmt::format("--seed wants an unsigned integer, got '{}'", *text);
        options.seed = *number;
      } else {
        if (!number || *number == 0 || *number > kMaxThreads) {
          return fmt::format("--threads wants 1 to {}, got '{}'", kMaxThreads, *text);
        }
        options.threads = static_cast<unsigned>(*number);
      }
    } else {
      return fmt::format("unknown argument '{}'", argv[i]);
    }
  }
  return std::nullopt;
}

std::string format_endpoint(tcp::endpoint const& endpoint) {
  auto const host = endpoint.address().to_string();
  return endpoint.address().is_v6() ? fmt::format("[{}]:{}", host, endpoint.port())
                                    : fmt::format("{}:{}", host, endpoint.port());
}

int run(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      fmt::print("{}{}", kUsage, kHelp);
      return 0;
    }
  }
  Options options;
  if (auto const error = parse_args(argc, argv, options)) {
    fmt::print(stderr, "demo_upstream: {}\n{}", *error, kUsage);
    return 2;
  }

  // Writes to a closed peer must fail with EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  // Installed before the "listening" line: a test may send SIGTERM as soon as it has read it.
  net::io_context signal_ioc{1};
  net::signal_set signals(signal_ioc, SIGINT, SIGTERM);

  // The RabbitMQ link outlives the workers that use it (declared first, destroyed last).
  apimeter::demo::FaultInjector faults;
  apimeter::demo::OrderIntake intake;
  std::unique_ptr<apimeter::demo::AmqpPublisher> publisher;
  std::unique_ptr<apimeter::demo::AmqpOrderConsumer> consumer;
  if (options.amqp && options.shape == apimeter::demo::Shape::crm) {
    publisher = std::make_unique<apimeter::demo::AmqpPublisher>(*options.amqp);
  }
  if (options.amqp && options.shape == apimeter::demo::Shape::mes) {
    consumer = std::make_unique<apimeter::demo::AmqpOrderConsumer>(*options.amqp, intake);
  }

  std::vector<std::unique_ptr<apimeter::demo::Worker>> workers;
  tcp::endpoint endpoint(options.address, options.port);
  for (unsigned i = 0; i < options.threads; ++i) {
    auto worker = std::make_unique<apimeter::demo::Worker>(i, options.seed, options.shape, publisher.get(),
                                                           &intake, faults);
    if (auto const ec = worker->listen(endpoint, options.threads > 1)) {
      fmt::print(stderr, "demo_upstream: cannot listen on {}: {}\n", format_endpoint(endpoint), ec.message());
      return 1;
    }
    // With port 0 the first bind picks the port; the other workers join it.
    if (i == 0) endpoint = worker->local_endpoint();
    workers.push_back(std::move(worker));
  }

  signals.async_wait([&workers](boost::system::error_code ec, int) {
    if (ec) return;
    for (auto& worker : workers) worker->stop();
  });

  fmt::print("listening {}\n", format_endpoint(endpoint));
  std::fflush(stdout);
  if (!options.quiet) {
    fmt::print(stderr, "demo_upstream: {} worker thread(s), seed {}\n", options.threads, options.seed);
  }

  std::vector<std::thread> threads;
  threads.reserve(workers.size());
  for (auto& worker : workers) threads.emplace_back([&worker] { worker->run(); });
  signal_ioc.run();
  for (auto& thread : threads) thread.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Nothing below is expected to throw; this is the last line of defence (std::thread, say), not control
  // flow.
  try {
    return run(argc, argv);
  } catch (std::exception const& e) {
    fmt::print(stderr, "demo_upstream: {}\n", e.what());
    return 1;
  }
}
