// Upstream connect errors by cause (see connect_error.hpp).
#include "proxy/connect_error.hpp"

#include <cerrno>

namespace apimeter {

std::string_view connect_error_type(const ErrorCode& ec) noexcept {
  namespace e = asio::error;
  if (ec == e::connection_refused) return "refused";
  if (ec == e::network_unreachable || ec == e::host_unreachable) return "unreachable";
  if (ec == e::connection_reset || ec == e::connection_aborted) return "reset";
  if (ec == e::timed_out) return "timeout";
  if (ec == e::network_down) return "network_down";
  if (ec == e::no_descriptors || ec == e::no_buffer_space || ec == e::no_memory) return "no_resources";
  if (ec == e::access_denied || ec == e::no_permission) return "denied";
  if (ec.category() == boost::system::system_category() && ec.value() == EADDRNOTAVAIL) return "address_unavailable";
  return "error";
}

}  // namespace apimeter
