// The terminal side of `apimeter top`: raw keyboard input with termios, the alternate screen, a redraw on
// every answer, key press and window resize, and the terminal restored on every way out.
#include "top/top_command.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "control/admin_client.hpp"
#include "control/options.hpp"
#include "top/stats_document.hpp"
#include "top/top_view.hpp"

namespace apimeter::top {
namespace {

constexpr std::size_t kMaxStatsBytes = 32 * 1024 * 1024;
constexpr std::string_view kUserAgent = "apimeter-top";

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_resized = 0;
extern "C" void on_stop_signal(int) { g_stop = 1; }
extern "C" void on_resize_signal(int) { g_resized = 1; }

// The answer's timeout: long enough for a slow scrape, short enough to notice a dead proxy within a refresh.
Duration fetch_timeout(const TopOptions& o) {
  return std::max<Duration>(std::chrono::seconds(2), std::min<Duration>(o.interval, std::chrono::seconds(10)));
}

// Fetches and parses /stats; false with a one-line `error` when there is no usable answer.
bool fetch(const TopOptions& o, std::string& body, StatsDocument& doc, std::string& error) {
  AdminAnswer answer = admin_get(o.admin, "/stats", fetch_timeout(o), kMaxStatsBytes, kUserAgent);
  if (answer.status == 0) {
    error = answer.error;
    return false;
  }
  if (answer.status != 200) {
    error = answer.url + " answered " + std::to_string(answer.status);
    return false;
  }
  std::string why;
  if (!parse_stats_document(answer.body, doc, why)) {
    error = answer.url + ": " + why;
    return false;
  }
  body = std::move(answer.body);
  return true;
}

// Colour only where it is understood: a terminal, TERM set and not "dumb", and no NO_COLOR (no-color.org).
bool colour_wanted() {
  const char* term = std::getenv("TERM");
  const char* no_color = std::getenv("NO_COLOR");
  return term && *term && std::strcmp(term, "dumb") != 0 && !(no_color && *no_color);
}

std::string clock_text() {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[16];
  std::strftime(text, sizeof text, "%H:%M:%S", &local);
  return text;
}

void write_all(std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(STDOUT_FILENO, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Raw keys, no echo, the alternate screen and a hidden cursor while alive; everything undone on destruction.
class Terminal {
 public:
  Terminal() {
    if (::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      keys_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    write_all("\x1b[?1049h\x1b[?25l");
  }
  ~Terminal() {
    write_all("\x1b[?25h\x1b[?1049l");
    if (keys_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  bool keys() const { return keys_; }
  static void size(std::size_t& width, std::size_t& height) {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
      width = ws.ws_col;
      height = ws.ws_row;
    } else {
      width = 100;
      height = 30;
    }
  }

 private:
  termios saved_{};
  bool keys_ = false;
};

int live(const TopOptions& o, StatsDocument doc) {
  struct sigaction stop {};
  stop.sa_handler = on_stop_signal;
  sigaction(SIGINT, &stop, nullptr);
  sigaction(SIGTERM, &stop, nullptr);
  sigaction(SIGHUP, &stop, nullptr);
  struct sigaction resize {};
  resize.sa_handler = on_resize_signal;
  sigaction(SIGWINCH, &resize, nullptr);

  Terminal terminal;
  ViewOptions view;
  view.sort = o.sort;
  view.color = colour_wanted();
  view.admin = o.admin.to_string();
  auto draw = [&] {
    Terminal::size(view.width, view.height);
    std::string screen = "\x1b[H";
    std::string text = render_view(doc, view);
    // Clear each line's rest as it is overwritten, then everything below: no flicker, no leftovers.
    for (std::size_t at = 0; at < text.size();) {
      const std::size_t end = text.find('\n', at);
      screen.append(text, at, end - at);
      screen += "\x1b[K\r\n";
      at = end + 1;
    }
    screen.resize(screen.size() - 2);  // no newline after the last line: it would scroll a full screen
    screen += "\x1b[J";
    write_all(screen);
  };
  draw();
  std::string failing_since;  // when the proxy stopped answering; empty while it answers
  auto next = std::chrono::steady_clock::now() + o.interval;
  while (!g_stop) {
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - std::chrono::steady_clock::now());
    pollfd in{STDIN_FILENO, POLLIN, 0};
    const int ready = ::poll(&in, terminal.keys() ? 1 : 0, static_cast<int>(std::max<std::int64_t>(wait.count(), 0)));
    if (g_stop) break;
    if (g_resized) {
      g_resized = 0;
      draw();
    }
    if (ready > 0 && (in.revents & POLLIN)) {
      char keys[32];
      const ssize_t n = ::read(STDIN_FILENO, keys, sizeof keys);
      if (n == 0) break;  // the terminal went away
      bool redraw = false;
      for (ssize_t i = 0; i < n; ++i) {
        const char key = static_cast<char>(std::tolower(static_cast<unsigned char>(keys[i])));
        if (key == 'q') return 0;
        for (const auto& k : kSortKeys)
          if (k.press == key && view.sort != k.key) {
            view.sort = k.key;
            redraw = true;
          }
      }
      if (redraw) draw();
      continue;
    }
    if (ready > 0 && (in.revents & (POLLHUP | POLLERR))) break;
    if (std::chrono::steady_clock::now() < next) continue;
    next = std::chrono::steady_clock::now() + o.interval;
    std::string body, error;
    StatsDocument fresh;
    if (fetch(o, body, fresh, error)) {
      doc = std::move(fresh);
      failing_since.clear();
      view.notice.clear();
    } else {
      if (failing_since.empty()) failing_since = clock_text();
      view.notice = "no answer since " + failing_since + ": " + error + " (the figures below are older)";
    }
    draw();
  }
  return 0;
}

}  // namespace

int run_top(const TopOptions& o) {
  std::string body, error;
  StatsDocument doc;
  if (!fetch(o, body, doc, error)) {
    std::fprintf(stderr, "apimeter top: %s\n", error.c_str());
    return 1;
  }
  if (o.json) {
    write_all(body);
    return 0;
  }
  if (!::isatty(STDOUT_FILENO)) {
    ViewOptions view;
    view.sort = o.sort;
    view.admin = o.admin.to_string();
    write_all(render_view(doc, view));
    return 0;
  }
  return live(o, std::move(doc));
}

}  // namespace apimeter::top
