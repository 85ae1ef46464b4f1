// Process figures for the standard process_* families, read from Linux /proc at scrape time (control
// thread). The parsers are pure so they can be tested on captured text; reading never throws.
#pragma once

#include <optional>
#include <string_view>

namespace apimeter::metrics {

struct ProcessSample {
  double cpu_seconds = 0;          // user + system
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double start_time_seconds = 0;  // unix time
};

// Fields of /proc/self/stat: ticks_per_second from sysconf(_SC_CLK_TCK), boot_time from /proc/stat btime.
std::optional<ProcessSample> parse_proc_self_stat(std::string_view stat, double ticks_per_second, double page_size,
                                                  double boot_time);
// "btime <seconds>" from /proc/stat.
std::optional<double> parse_boot_time(std::string_view proc_stat);

// Reads everything for the current process; fields that cannot be read stay 0.
ProcessSample read_process_sample();

}  // namespace apimeter::metrics
