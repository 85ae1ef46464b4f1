// The http_request_method label: the nine standard methods keep their name, anything else is "_OTHER"
// (OpenTelemetry semconv), so a client inventing methods cannot create series. Pure, allocation-free.
#pragma once

#include <cstdint>
#include <string_view>

namespace apimeter::metrics {

enum class HttpMethod : std::uint8_t { get, head, post, put, delete_, connect, options, trace, patch, other };
inline constexpr std::size_t kHttpMethodCount = 10;

// Case-sensitive, as methods are (RFC 9110 9.1): "get" is not GET.
HttpMethod normalize_method(std::string_view method) noexcept;
std::string_view method_label(HttpMethod method) noexcept;

}  // namespace apimeter::metrics
