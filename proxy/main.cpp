// apimeter's entry point: parse the command line, run one command, map failures to exit codes
// (0 ok, 1 healthcheck or top failed, 2 bad usage or config). Config exceptions end here, never later.
#include <csignal>
#include <cstdio>
#include <exception>

#include "control/cli.hpp"
#include "control/config_loader.hpp"
#include "proxy/event_log.hpp"
#include "control/healthcheck.hpp"
#include "top/top_command.hpp"
#include "proxy/server.hpp"

extern char** environ;

namespace {

int print_problems(const std::vector<apimeter::Diagnostic>& problems) {
  for (const auto& p : problems) std::fprintf(stderr, "%s\n", apimeter::format_diagnostic(p).c_str());
  return 2;
}

int run(int argc, char** argv) {
  using apimeter::CommandLine;
  CommandLine command_line;
  std::vector<apimeter::Diagnostic> problems;
  if (!apimeter::parse_command_line(argc, argv, environ, command_line, problems)) return print_problems(problems);

  switch (command_line.command) {
    case CommandLine::Command::help:
      std::fputs(apimeter::help_text().c_str(), stdout);
      return 0;
    case CommandLine::Command::version:
      std::printf("%s\n", apimeter::version_text().c_str());
      return 0;
    case CommandLine::Command::healthcheck:
      return apimeter::run_healthcheck(command_line.admin_address, command_line.healthcheck_timeout);
    case CommandLine::Command::top:
      return apimeter::top::run_top({command_line.admin_address, command_line.top_sort, command_line.top_interval,
                                     command_line.top_json});
    case CommandLine::Command::check: {
      apimeter::LoadResult loaded = apimeter::load_effective_config(command_line);
      if (!loaded.ok()) return print_problems(loaded.problems);
      std::printf("%s: ok\n", command_line.config_path.empty() ? "configuration" : command_line.config_path.c_str());
      return 0;
    }
    case CommandLine::Command::run:
      break;
  }
  apimeter::LoadResult loaded = apimeter::load_effective_config(command_line);
  if (!loaded.ok()) return print_problems(loaded.problems);
  // Writes to a closed stdout or socket must surface as errors, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  apimeter::Server server(std::move(command_line), std::move(loaded.config));
  return server.run();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    apimeter::log_event("error", e.what());
    return 2;
  }
}
