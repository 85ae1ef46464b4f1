// JSON string escaping for values clients control (paths, user agents): quotes, backslashes, control bytes
// and non-ASCII bytes are escaped, so every line stays valid JSON whatever arrives. Works with any sink
// that has append(std::string_view): std::string or the fixed-buffer HeadWriter.
#pragma once

#include <cstddef>
#include <string_view>

namespace apimeter {

template <typename Sink>
void append_json_escaped(Sink& out, std::string_view value, std::size_t limit = static_cast<std::size_t>(-1)) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (value.size() > limit) value = value.substr(0, limit);
  std::size_t run = 0;  // start of the current run of bytes that need no escaping
  for (std::size_t i = 0; i < value.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') continue;
    out.append(value.substr(run, i - run));
    run = i + 1;
    if (c == '"') out.append("\\\"");
    else if (c == '\\') out.append("\\\\");
    else {
      // Raw bytes >= 0x80 are not guaranteed UTF-8; \u00XX keeps the line valid JSON.
      char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
      out.append(std::string_view(esc, 6));
    }
  }
  out.append(value.substr(run));
}

}  // namespace apimeter
