// The HTTP version of an exchange on the client side, and its network.protocol.version spelling
// (OpenTelemetry semantic conventions: "1.0", "1.1", "2"), shared by the metrics label, the span attribute
// and the access-log field so the three agree.
#pragma once

#include <cstdint>
#include <string_view>

namespace apimeter {

enum class HttpVersion : std::uint8_t { http1_0, http1_1, http2, kCount };

inline constexpr std::string_view kNetworkProtocolVersions[] = {"1.0", "1.1", "2"};

constexpr std::string_view network_protocol_version(HttpVersion v) noexcept {
  return kNetworkProtocolVersions[static_cast<std::size_t>(v) < std::size(kNetworkProtocolVersions)
                                      ? static_cast<std::size_t>(v)
                                      : 1];
}

// An HTTP/1.x request line's minor version.
constexpr HttpVersion http1_version(int minor) noexcept {
  return minor == 0 ? HttpVersion::http1_0 : HttpVersion::http1_1;
}

}  // namespace apimeter
