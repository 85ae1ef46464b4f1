// Small helpers of the plain config data in config.hpp. No parsing and no validation here: values are
// parsed by options.cpp and value_syntax.cpp, and checked by config_loader.cpp and config_validation.cpp.
#include "control/config.hpp"

namespace apimeter {

std::string HostPort::to_string() const {
  // An IPv6 literal needs brackets, or its colons would be read as the port separator.
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string_view UserIdentityConfig::effective_name() const noexcept {
  switch (source) {
    case IdentitySource::header:
      return name.empty() ? defaults::kUserIdHeader : std::string_view(name);
    case IdentitySource::api_key:
      return name.empty() ? defaults::kApiKeyHeader : std::string_view(name);
    case IdentitySource::jwt_claim:
      return name.empty() ? defaults::kUserIdClaim : std::string_view(name);
    case IdentitySource::cookie:
      return name;
    case IdentitySource::none:
    case IdentitySource::client_address:
    case IdentitySource::client_certificate:
      break;
  }
  return {};
}

}  // namespace apimeter
