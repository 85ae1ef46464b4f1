// HTTP methods as one small enum shared by the parser (framing, retry rules) and the metrics
// (http_request_method label): the nine standard methods, and `other` for anything a client invents.
// Case-sensitive, as methods are (RFC 9110 9.1): "get" is not GET. Pure, allocation-free.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace apimeter {

enum class HttpMethod : std::uint8_t { get, head, post, put, delete_, connect, options, trace, patch, other };
inline constexpr std::size_t kHttpMethodCount = 10;

constexpr HttpMethod classify_method(std::string_view m) noexcept {
  switch (m.size()) {
    case 3:
      if (m == "GET") return HttpMethod::get;
      if (m == "PUT") return HttpMethod::put;
      break;
    case 4:
      if (m == "POST") return HttpMethod::post;
      if (m == "HEAD") return HttpMethod::head;
      break;
    case 5:
      if (m == "PATCH") return HttpMethod::patch;
      if (m == "TRACE") return HttpMethod::trace;
      break;
    case 6:
      if (m == "DELETE") return HttpMethod::delete_;
      break;
    case 7:
      if (m == "OPTIONS") return HttpMethod::options;
      if (m == "CONNECT") return HttpMethod::connect;
      break;
    default:
      break;
  }
  return HttpMethod::other;
}

// The semconv label: the method's name, or "_OTHER".
constexpr std::string_view method_label(HttpMethod method) noexcept {
  constexpr std::array<std::string_view, kHttpMethodCount> kLabels = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER"};
  return kLabels[static_cast<std::size_t>(method)];
}

}  // namespace apimeter
