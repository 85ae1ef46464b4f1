// One line per event, written with a single write() so concurrent lines never interleave.
#include "proxy/event_log.hpp"

#include <unistd.h>

#include <chrono>
#include <ctime>

#include "proxy/json_escape.hpp"

namespace apimeter {

void log_event(std::string_view level, std::string_view message, std::initializer_list<EventField> fields) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[40];
  std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ", static_cast<int>(millis));

  std::string line = "{\"@timestamp\":\"";
  line += stamp;
  line += "\",\"log.level\":\"";
  line += level;
  line += "\",\"ecs.version\":\"8.11.0\",\"event.dataset\":\"apimeter.process\",\"message\":\"";
  append_json_escaped(line, message);
  line += '"';
  for (const auto& [key, value] : fields) {
    line += ",\"";
    line += key;
    line += "\":\"";
    append_json_escaped(line, value);
    line += '"';
  }
  line += "}\n";
  ssize_t ignored = ::write(2, line.data(), line.size());
  (void)ignored;
}

}  // namespace apimeter
