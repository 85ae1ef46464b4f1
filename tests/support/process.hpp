// Child processes for integration tests: spawn with arguments and extra environment, capture stdout and
// stderr line by line, wait for lines, signal, reap, read RSS. Every wait is bounded by a deadline; nothing
// here sleeps to synchronise, and a Process never outlives its object (the destructor kills and reaps it).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace apimeter::test {

using Clock = std::chrono::steady_clock;
using Duration = std::chrono::milliseconds;
using LinePredicate = std::function<bool(std::string_view)>;

// Lines of one output stream, appended by a reader thread and read by the test thread. Thread-safe.
class LineBuffer {
 public:
  // Reader thread: appends raw bytes; complete lines become visible at once, a partial one at close().
  void append(std::string_view bytes);
  void close();

  // The first line at index >= `from` that satisfies `predicate`, waiting up to `timeout` for it to arrive;
  // nullopt on timeout or when the stream ended without one. `index`, when given, receives its position.
  std::optional<std::string> wait_for(const LinePredicate& predicate, Duration timeout, std::size_t from = 0,
                                      std::size_t* index = nullptr);
  // Waits until the stream has ended (the child closed it), up to `timeout`.
  bool wait_closed(Duration timeout);

  std::vector<std::string> lines() const;
  std::size_t size() const;
  // Every line so far, newline-terminated, for failure messages.
  std::string text() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
  std::string partial_;
  bool closed_ = false;
};

// One child process. Its stdin is /dev/null; stdout and stderr are captured. APIMETER_* variables of the
// test's own environment are not passed on (apimeter would read them), only those in `extra_env`.
class Process {
 public:
  // `program` is a path, or a name looked up in PATH. Throws std::runtime_error when it cannot be started.
  Process(std::string program, std::vector<std::string> args, std::vector<std::string> extra_env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& program() const { return program_; }
  LineBuffer& out() { return out_; }
  LineBuffer& err() { return err_; }

  std::optional<std::string> wait_for_stdout(const LinePredicate& predicate, Duration timeout, std::size_t from = 0);
  std::optional<std::string> wait_for_stderr(const LinePredicate& predicate, Duration timeout, std::size_t from = 0);

  // Sends `signal` unless the child has already been reaped.
  void send_signal(int signal);
  // Waits for the child to exit: its exit status, 128 + N when killed by signal N, nullopt on timeout.
  std::optional<int> wait_exit(Duration timeout);
  bool running();
  // SIGKILL and reap; a no-op once the child has exited.
  void kill();

  // Resident set size and its peak (VmRSS, VmHWM of /proc/PID/status) in bytes; nullopt once gone.
  std::optional<std::uint64_t> rss_bytes() const;
  std::optional<std::uint64_t> peak_rss_bytes() const;

  // "program: exit N\n--- stdout ---\n...\n--- stderr ---\n..." for failure messages.
  std::string describe();

 private:
  void reap_loop();
  std::optional<std::uint64_t> status_kib(std::string_view key) const;

  std::string program_;
  pid_t pid_ = -1;
  LineBuffer out_;
  LineBuffer err_;
  std::atomic<bool> stop_readers_{false};  // set when a pipe outlives the child (a descendant holds it)
  std::thread out_reader_;
  std::thread err_reader_;
  std::thread reaper_;
  std::mutex state_mutex_;
  std::condition_variable exited_cv_;
  std::optional<int> exit_code_;
};

// The value of `key` in a flat JSON object line: a string's unescaped text or a number's digits; nullopt
// when absent. Good enough for the proxy's own log lines (flat ECS keys, no nesting).
std::optional<std::string> json_field(std::string_view line, std::string_view key);
// A predicate matching lines whose `key` has exactly `value`.
LinePredicate json_field_is(std::string key, std::string value);
// A predicate matching lines containing `text`.
LinePredicate contains(std::string text);

struct DemoUpstream {
  std::unique_ptr<Process> process;
  std::uint16_t port = 0;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

// The demo upstream at `binary` on `listen` (port 0 picks one) with `extra_args`, once it has printed
// "listening ...". Throws std::runtime_error (with its output) when it does not start within the timeout.
DemoUpstream start_demo_upstream_binary(const std::string& binary, std::vector<std::string> extra_args,
                                        const std::string& listen);

struct Apimeter {
  std::unique_ptr<Process> process;
  std::uint16_t port = 0;        // client listener
  std::uint16_t admin_port = 0;  // /healthz, /readyz
  Process& proc() { return *process; }
};

// apimeter at `binary` with `--listen 127.0.0.1:0 --admin 127.0.0.1:0 --workers 2` followed by `args`
// (later flags win), once it has logged "listening"; the ports are parsed from that line. Throws
// std::runtime_error (with its output) when it does not start within the timeout.
Apimeter start_apimeter_binary(const std::string& binary, std::vector<std::string> args,
                               std::vector<std::string> extra_env);

// Runs a program to completion (bounded by `timeout`, then killed) and returns its exit code and output.
struct RunResult {
  std::optional<int> exit_code;  // nullopt: killed at the timeout
  std::vector<std::string> out;
  std::vector<std::string> err;
  std::string out_text() const;
  std::string err_text() const;
};
RunResult run_to_completion(std::string program, std::vector<std::string> args, Duration timeout,
                            std::vector<std::string> extra_env = {});

// The binaries' paths are compile definitions of the integration tests (tests/integration/CMakeLists.txt),
// not of this library, so the helpers that use them are inline and exist only where they are defined.
#if defined(APIMETER_BIN) && defined(DEMO_UPSTREAM_BIN) && defined(APIMETER_SOURCE_DIR)
inline std::string apimeter_bin() { return APIMETER_BIN; }
inline std::string demo_upstream_bin() { return DEMO_UPSTREAM_BIN; }
inline std::string source_dir() { return APIMETER_SOURCE_DIR; }

inline DemoUpstream start_demo_upstream(std::vector<std::string> extra_args = {},
                                        const std::string& listen = "127.0.0.1:0") {
  return start_demo_upstream_binary(demo_upstream_bin(), std::move(extra_args), listen);
}

inline Apimeter start_apimeter(std::vector<std::string> args, std::vector<std::string> extra_env = {}) {
  return start_apimeter_binary(apimeter_bin(), std::move(args), std::move(extra_env));
}
#endif

}  // namespace apimeter::test
