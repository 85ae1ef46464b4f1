// gzip (RFC 1952) with zlib: /metrics bodies for scrapers that send Accept-Encoding: gzip, and OTLP export
// bodies. Control and exporter threads only (it allocates the output); never used on the data plane.
#pragma once

#include <string>
#include <string_view>

namespace apimeter {

// Level 1 by default: metric text compresses about 10x even so, and the sidecar's CPU belongs to the
// service it measures. Throws std::runtime_error if zlib fails (out of memory).
std::string gzip(std::string_view data, int level = 1);

}  // namespace apimeter
