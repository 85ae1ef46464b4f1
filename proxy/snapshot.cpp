// Building a snapshot: DNS resolution of the upstreams and the buffer size that fits the header limits.
#include "proxy/snapshot.hpp"

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>

namespace apimeter {

SnapshotPtr build_snapshot(Config config, std::uint64_t generation, std::vector<Diagnostic>& problems) {
  auto snapshot = std::make_shared<Snapshot>(std::move(config));
  const Config& c = snapshot->config;
  snapshot->generation = generation;

  asio::io_context io;
  tcp::resolver resolver(io);
  for (const HostPort& upstream : c.upstreams) {
    ErrorCode ec;
    auto results = resolver.resolve(upstream.host, std::to_string(upstream.port),
                                    tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      problems.push_back({{c.config_path.empty() ? "--upstream" : c.config_path, 0, 0},
                          "upstream " + upstream.to_string() + " does not resolve: " + ec.message()});
      continue;
    }
    // Every address a name resolves to is an endpoint; round-robin spreads over all of them.
    for (const auto& entry : results) {
      auto address = entry.endpoint();
      bool seen = std::any_of(snapshot->endpoints.begin(), snapshot->endpoints.end(),
                              [&](const UpstreamEndpoint& e) { return e.address == address; });
      if (!seen) {
        std::string name = address.address().is_v6() ? "[" + address.address().to_string() + "]"
                                                     : address.address().to_string();
        snapshot->endpoints.push_back({address, name + ":" + std::to_string(address.port())});
      }
    }
  }
  if (!problems.empty()) return nullptr;

  const Limits& l = c.limits;
  snapshot->request_limits = {l.max_request_header_bytes, l.max_request_headers, l.max_uri_bytes};
  snapshot->response_limits = {l.max_response_header_bytes, l.max_response_headers, l.max_response_header_bytes};
  // A buffer holds a whole head plus room to stream body bytes behind it.
  snapshot->io_buffer_bytes =
      std::max(l.max_request_header_bytes, l.max_response_header_bytes) + defaults::kIoBufferBytes;
  return snapshot;
}

}  // namespace apimeter
