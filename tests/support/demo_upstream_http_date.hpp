// The IMF-fixdate for the Date field, formatted at most once per second per worker. One instance per worker
// thread; not thread-safe. Callers that hand the text to an async write copy it first (the next request may
// rewrite it while the write is still in flight).
#pragma once

#include <array>
#include <ctime>
#include <string_view>

namespace apimeter::demo {

class HttpDate {
 public:
  static constexpr std::size_t kLength = 29;  // "Sun, 06 Nov 1994 08:49:37 GMT"

  std::string_view now() {
    std::time_t const second = std::time(nullptr);
    if (second != second_) {
      std::tm tm{};
      ::gmtime_r(&second, &tm);
      // The C locale is never changed in this program, so %a and %b are the English names RFC 9110 wants.
      std::strftime(text_.data(), text_.size(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
      second_ = second;
    }
    return {text_.data(), kLength};
  }

 private:
  std::time_t second_ = -1;
  std::array<char, kLength + 1> text_{};
};

}  // namespace apimeter::demo
