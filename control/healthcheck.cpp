// The healthcheck: one GET /readyz through the admin client; 200 is healthy, anything else is one line why.
#include "control/healthcheck.hpp"

#include <cstdio>
#include <string>

#include "control/admin_client.hpp"

namespace apimeter {
namespace {
constexpr std::size_t kMaxReadyzBodyBytes = 64 * 1024;
}  // namespace

int run_healthcheck(const HostPort& admin, Duration timeout) {
  const AdminAnswer answer = admin_get(admin, "/readyz", timeout, kMaxReadyzBodyBytes, "apimeter-healthcheck");
  if (answer.status == 200) return 0;
  if (answer.status == 0) {
    std::fprintf(stderr, "healthcheck: %s\n", answer.error.c_str());
    return 1;
  }
  std::string body = answer.body.substr(0, answer.body.find('\n'));
  if (body.size() > 200) body.resize(200);
  std::fprintf(stderr, "healthcheck: %s answered %d%s\n", answer.url.c_str(), answer.status,
               body.empty() ? "" : (": " + body).c_str());
  return 1;
}

}  // namespace apimeter
