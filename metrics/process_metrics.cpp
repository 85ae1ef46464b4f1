// /proc parsing and reading for process_* (see process_metrics.hpp).
#include "metrics/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace apimeter::metrics {
namespace {

std::string read_file(const char* path) {
  std::ifstream in(path);
  if (!in) return {};
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

std::optional<ProcessSample> parse_proc_self_stat(std::string_view stat, double ticks_per_second, double page_size,
                                                  double boot_time) {
  // The command name is in parentheses and may contain spaces or ')'; fields start after the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state)
  std::string_view rest = stat.substr(close + 1);
  while (!rest.empty()) {
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\n')) rest.remove_prefix(1);
    if (rest.empty()) break;
    auto end = rest.find_first_of(" \n");
    fields.push_back(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  }
  auto field = [&](std::size_t number, double& out) {  // 1-based field numbers as in proc(5)
    if (number < 3 || number - 3 >= fields.size()) return false;
    auto f = fields[number - 3];
    unsigned long long v = 0;
    auto r = std::from_chars(f.data(), f.data() + f.size(), v);
    if (r.ec != std::errc()) return false;
    out = static_cast<double>(v);
    return true;
  };
  double utime, stime, starttime, vsize, rss;
  if (!field(14, utime) || !field(15, stime) || !field(22, starttime) || !field(23, vsize) || !field(24, rss))
    return std::nullopt;
  ProcessSample s;
  s.cpu_seconds = (utime + stime) / ticks_per_second;
  s.start_time_seconds = boot_time + starttime / ticks_per_second;
  s.virtual_bytes = vsize;
  s.resident_bytes = rss * page_size;
  return s;
}

std::optional<double> parse_boot_time(std::string_view proc_stat) {
  std::size_t pos = 0;
  while (pos < proc_stat.size()) {
    auto end = proc_stat.find('\n', pos);
    std::string_view line = proc_stat.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (line.starts_with("btime ")) {
      unsigned long long v = 0;
      auto digits = line.substr(6);
      if (std::from_chars(digits.data(), digits.data() + digits.size(), v).ec == std::errc()) return static_cast<double>(v);
      return std::nullopt;
    }
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return std::nullopt;
}

ProcessSample read_process_sample() {
  ProcessSample s;
  static const double boot_time = parse_boot_time(read_file("/proc/stat")).value_or(0);
  if (auto parsed = parse_proc_self_stat(read_file("/proc/self/stat"), static_cast<double>(sysconf(_SC_CLK_TCK)),
                                         static_cast<double>(sysconf(_SC_PAGESIZE)), boot_time))
    s = *parsed;
  if (DIR* dir = opendir("/proc/self/fd")) {
    double n = 0;
    while (dirent* e = readdir(dir))
      if (e->d_name[0] != '.') ++n;
    closedir(dir);
    s.open_fds = n > 0 ? n - 1 : 0;  // minus the descriptor of the directory being read
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) s.max_fds = static_cast<double>(limit.rlim_cur);
  return s;
}

}  // namespace apimeter::metrics
