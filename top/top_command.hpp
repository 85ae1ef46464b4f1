// `apimeter top`: the live view of a running proxy in a terminal. On a terminal it refreshes in place like
// top (keys change the sort, q quits); with stdout not a terminal it prints the table once; --json prints
// the /stats document. A client of the admin listener only; it never runs in the proxy.
#pragma once

#include "control/config.hpp"
#include "control/limits.hpp"
#include "top/sort_key.hpp"

namespace apimeter::top {

struct TopOptions {
  HostPort admin{"127.0.0.1", 9901};
  SortKey sort = SortKey::rps;
  Duration interval = std::chrono::seconds(1);
  bool json = false;
};

// Runs until q, Ctrl-C or SIGTERM (terminal), or after one answer (otherwise). Returns 0, or 1 with one
// line on stderr when the admin address does not answer (at start; later failures show in the view).
int run_top(const TopOptions& options);

}  // namespace apimeter::top
