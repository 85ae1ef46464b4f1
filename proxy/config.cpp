// Small helpers of the plain config data in config.hpp. No parsing and no validation here: values are
// parsed by options.cpp and checked by config_loader.cpp.
#include "proxy/config.hpp"

namespace apimeter {

std::string HostPort::to_string() const {
  // An IPv6 literal needs brackets, or its colons would be read as the port separator.
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

}  // namespace apimeter
