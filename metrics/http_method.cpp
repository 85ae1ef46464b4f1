// Method normalization for the http_request_method label (see http_method.hpp). Runs per request: a switch
// on the length, then one comparison; never allocates.
#include "metrics/http_method.hpp"

#include <array>

namespace apimeter::metrics {

HttpMethod normalize_method(std::string_view m) noexcept {
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

std::string_view method_label(HttpMethod method) noexcept {
  static constexpr std::array<std::string_view, kHttpMethodCount> kLabels = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER"};
  return kLabels[static_cast<std::size_t>(method)];
}

}  // namespace apimeter::metrics
