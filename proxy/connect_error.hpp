// The `error_type` of a failed upstream connect (apimeter_upstream_connect_errors_total), from the error
// the socket reported: one mapping, so the metric names the cause an operator can act on.
#pragma once

#include <string_view>

#include "common/asio_types.hpp"

namespace apimeter {

// "refused", "unreachable", "reset", "timeout", "address_unavailable" (local ports exhausted),
// "no_resources" (descriptors or buffers), "denied" (a firewall), "network_down", else "error".
std::string_view connect_error_type(const ErrorCode& ec) noexcept;

}  // namespace apimeter
