// Child processes for integration tests: posix_spawn with piped stdout/stderr, one reader thread per
// stream and one reaper thread blocked in waitpid(). Waits are condition variables with deadlines; the
// destructor kills, reaps and joins, so no test leaves a process or a thread behind.
#include "tests/support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace apimeter::test {
namespace {

using namespace std::chrono_literals;

constexpr Duration kStartTimeout = 10s;
constexpr Duration kReaderGrace = 2s;       // after the child is gone, for the pipes to reach EOF
constexpr std::size_t kDescribeLines = 60;  // lines of each stream shown in failure messages

std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    if (text.starts_with("APIMETER_") || text.starts_with("OTEL_")) continue;
    env.emplace_back(text);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Reads `fd` until EOF into `buffer`, then closes both. Polls so that `stop` can end it if a descendant
// kept the pipe open after the child died.
void read_stream(int fd, LineBuffer& buffer, const std::atomic<bool>& stop) {
  char chunk[16 * 1024];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, 100);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      if (stop.load()) break;
      continue;
    }
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buffer.append({chunk, static_cast<std::size_t>(n)});
  }
  ::close(fd);
  buffer.close();
}

std::string tail_text(const std::vector<std::string>& lines) {
  std::string out;
  std::size_t start = lines.size() > kDescribeLines ? lines.size() - kDescribeLines : 0;
  if (start > 0) out += "[... " + std::to_string(start) + " earlier lines]\n";
  for (std::size_t i = start; i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

std::optional<std::uint16_t> port_of(std::string_view host_port) {
  auto colon = host_port.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto digits = host_port.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || ptr != digits.data() + digits.size() || value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

}  // namespace

// ---- LineBuffer -------------------------------------------------------------------------------------

void LineBuffer::append(std::string_view bytes) {
  {
    std::lock_guard lock(mutex_);
    partial_.append(bytes);
    std::size_t start = 0;
    for (std::size_t nl = partial_.find('\n'); nl != std::string::npos; nl = partial_.find('\n', start)) {
      lines_.push_back(partial_.substr(start, nl - start));
      start = nl + 1;
    }
    partial_.erase(0, start);
  }
  changed_.notify_all();
}

void LineBuffer::close() {
  {
    std::lock_guard lock(mutex_);
    if (!partial_.empty()) lines_.push_back(std::move(partial_));
    partial_.clear();
    closed_ = true;
  }
  changed_.notify_all();
}

std::optional<std::string> LineBuffer::wait_for(const LinePredicate& predicate, Duration timeout, std::size_t from,
                                                std::size_t* index) {
  auto deadline = Clock::now() + timeout;
  std::unique_lock lock(mutex_);
  std::size_t next = from;
  for (;;) {
    for (; next < lines_.size(); ++next) {
      if (predicate(lines_[next])) {
        if (index != nullptr) *index = next;
        return lines_[next];
      }
    }
    if (closed_) return std::nullopt;
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      // One last look: lines may have arrived together with the timeout.
      for (; next < lines_.size(); ++next) {
        if (predicate(lines_[next])) {
          if (index != nullptr) *index = next;
          return lines_[next];
        }
      }
      return std::nullopt;
    }
  }
}

bool LineBuffer::wait_closed(Duration timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return closed_; });
}

std::vector<std::string> LineBuffer::lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

std::size_t LineBuffer::size() const {
  std::lock_guard lock(mutex_);
  return lines_.size();
}

std::string LineBuffer::text() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& line : lines_) out += line + "\n";
  return out;
}

// ---- Process ----------------------------------------------------------------------------------------

Process::Process(std::string program, std::vector<std::string> args, std::vector<std::string> extra_env)
    : program_(std::move(program)) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2: " + std::string(std::strerror(errno)));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw std::runtime_error("pipe2: " + std::string(std::strerror(errno)));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  // The child starts with default signal dispositions and an empty mask, whatever the test runner set.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t all;
  sigset_t none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<std::string> argv_strings;
  argv_strings.push_back(program_);
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings = child_environment(extra_env);
  auto argv = c_strings(argv_strings);
  auto envp = c_strings(env_strings);

  int rc = ::posix_spawnp(&pid_, program_.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    pid_ = -1;
    throw std::runtime_error("cannot start " + program_ + ": " + std::strerror(rc));
  }

  out_reader_ = std::thread([fd = out_pipe[0], this] { read_stream(fd, out_, stop_readers_); });
  err_reader_ = std::thread([fd = err_pipe[0], this] { read_stream(fd, err_, stop_readers_); });
  reaper_ = std::thread([this] { reap_loop(); });
}

Process::~Process() {
  kill();
  if (reaper_.joinable()) reaper_.join();
  bool out_done = out_.wait_closed(kReaderGrace);
  bool err_done = err_.wait_closed(kReaderGrace);
  if (!out_done || !err_done) stop_readers_ = true;
  if (out_reader_.joinable()) out_reader_.join();
  if (err_reader_.joinable()) err_reader_.join();
}

void Process::reap_loop() {
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  int code = -1;
  if (r == pid_) {
    if (WIFEXITED(status)) code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) code = 128 + WTERMSIG(status);
  }
  {
    std::lock_guard lock(state_mutex_);
    exit_code_ = code;
  }
  exited_cv_.notify_all();
}

std::optional<std::string> Process::wait_for_stdout(const LinePredicate& predicate, Duration timeout,
                                                    std::size_t from) {
  return out_.wait_for(predicate, timeout, from);
}

std::optional<std::string> Process::wait_for_stderr(const LinePredicate& predicate, Duration timeout,
                                                    std::size_t from) {
  return err_.wait_for(predicate, timeout, from);
}

void Process::send_signal(int signal) {
  // Under the lock the reaper cannot have reaped the pid yet, so it still names our child.
  std::lock_guard lock(state_mutex_);
  if (!exit_code_ && pid_ > 0) ::kill(pid_, signal);
}

std::optional<int> Process::wait_exit(Duration timeout) {
  std::unique_lock lock(state_mutex_);
  exited_cv_.wait_for(lock, timeout, [this] { return exit_code_.has_value(); });
  return exit_code_;
}

bool Process::running() {
  std::lock_guard lock(state_mutex_);
  return !exit_code_.has_value();
}

void Process::kill() {
  send_signal(SIGKILL);
  wait_exit(10s);
}

std::optional<std::uint64_t> Process::status_kib(std::string_view key) const {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (!line.starts_with(key) || line.size() <= key.size() || line[key.size()] != ':') continue;
    std::istringstream fields(line.substr(key.size() + 1));
    std::uint64_t kib = 0;
    if (fields >> kib) return kib;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> Process::rss_bytes() const {
  auto kib = status_kib("VmRSS");
  if (!kib) return std::nullopt;
  return *kib * 1024;
}

std::optional<std::uint64_t> Process::peak_rss_bytes() const {
  auto kib = status_kib("VmHWM");
  if (!kib) return std::nullopt;
  return *kib * 1024;
}

std::string Process::describe() {
  std::string out = program_ + ": ";
  {
    std::lock_guard lock(state_mutex_);
    out += exit_code_ ? "exit " + std::to_string(*exit_code_) : std::string("running");
  }
  out += "\n--- stdout ---\n" + tail_text(out_.lines()) + "--- stderr ---\n" + tail_text(err_.lines());
  return out;
}

// ---- JSON lines -------------------------------------------------------------------------------------

std::optional<std::string> json_field(std::string_view line, std::string_view key) {
  std::string needle = "\"" + std::string(key) + "\":";
  auto at = line.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  std::size_t i = at + needle.size();
  while (i < line.size() && line[i] == ' ') ++i;
  if (i >= line.size()) return std::nullopt;
  std::string value;
  if (line[i] != '"') {
    while (i < line.size() && line[i] != ',' && line[i] != '}') value.push_back(line[i++]);
    return value;
  }
  for (++i; i < line.size() && line[i] != '"'; ++i) {
    if (line[i] != '\\' || i + 1 >= line.size()) {
      value.push_back(line[i]);
      continue;
    }
    char escaped = line[++i];
    switch (escaped) {
      case 'n': value.push_back('\n'); break;
      case 't': value.push_back('\t'); break;
      case 'r': value.push_back('\r'); break;
      case 'b': value.push_back('\b'); break;
      case 'f': value.push_back('\f'); break;
      case 'u': {
        unsigned code = 0;
        if (i + 4 < line.size()) std::from_chars(line.data() + i + 1, line.data() + i + 5, code, 16);
        // Only the control characters the proxy escapes matter here; others keep a marker.
        value.push_back(code < 0x80 ? static_cast<char>(code) : '?');
        i += 4;
        break;
      }
      default: value.push_back(escaped); break;
    }
  }
  return value;
}

LinePredicate json_field_is(std::string key, std::string value) {
  return [key = std::move(key), value = std::move(value)](std::string_view line) {
    auto field = json_field(line, key);
    return field && *field == value;
  };
}

LinePredicate contains(std::string text) {
  return [text = std::move(text)](std::string_view line) { return line.find(text) != std::string_view::npos; };
}

// ---- Starters ---------------------------------------------------------------------------------------

DemoUpstream start_demo_upstream_binary(const std::string& binary, std::vector<std::string> extra_args,
                                        const std::string& listen) {
  std::vector<std::string> args{"--listen", listen, "--quiet"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  DemoUpstream upstream;
  upstream.process = std::make_unique<Process>(binary, std::move(args));
  auto line = upstream.process->wait_for_stdout(
      [](std::string_view l) { return l.starts_with("listening "); }, kStartTimeout);
  auto port = line ? port_of(*line) : std::nullopt;
  if (!port) throw std::runtime_error("demo_upstream did not start\n" + upstream.process->describe());
  upstream.port = *port;
  return upstream;
}

Apimeter start_apimeter_binary(const std::string& binary, std::vector<std::string> args,
                               std::vector<std::string> extra_env) {
  std::vector<std::string> all{"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "2"};
  all.insert(all.end(), args.begin(), args.end());
  Apimeter proxy;
  proxy.process = std::make_unique<Process>(binary, std::move(all), std::move(extra_env));
  auto line = proxy.process->wait_for_stderr(json_field_is("message", "listening"), kStartTimeout);
  std::optional<std::uint16_t> port;
  std::optional<std::uint16_t> admin;
  if (line) {
    if (auto listen = json_field(*line, "apimeter.listen")) port = port_of(*listen);
    if (auto admin_text = json_field(*line, "apimeter.admin")) admin = port_of(*admin_text);
  }
  if (!port || !admin) throw std::runtime_error("apimeter did not start\n" + proxy.process->describe());
  proxy.port = *port;
  proxy.admin_port = *admin;
  return proxy;
}

std::string RunResult::out_text() const {
  std::string text;
  for (const auto& line : out) text += line + "\n";
  return text;
}

std::string RunResult::err_text() const {
  std::string text;
  for (const auto& line : err) text += line + "\n";
  return text;
}

RunResult run_to_completion(std::string program, std::vector<std::string> args, Duration timeout,
                            std::vector<std::string> extra_env) {
  Process process(std::move(program), std::move(args), std::move(extra_env));
  RunResult result;
  result.exit_code = process.wait_exit(timeout);
  if (!result.exit_code) process.kill();
  process.out().wait_closed(kReaderGrace);
  process.err().wait_closed(kReaderGrace);
  result.out = process.out().lines();
  result.err = process.err().lines();
  return result;
}

}  // namespace apimeter::test
