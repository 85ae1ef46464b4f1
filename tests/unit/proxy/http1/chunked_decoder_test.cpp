// The chunked parser: where a body ends, which bytes are data, and the framings it refuses.
#include "proxy/http1/chunked_decoder.hpp"

#include <gtest/gtest.h>

#include <string>

namespace apimeter {
namespace {

struct Fed {
  std::size_t consumed = 0;
  std::string data;
  bool done = false;
  bool failed = false;
};

// Feeds `text` in pieces of `step` bytes, as a socket might deliver it.
Fed feed(std::string_view text, std::size_t step = 1 << 20) {
  ChunkedDecoder decoder;
  decoder.reset();
  Fed out;
  for (std::size_t at = 0; at < text.size() && !decoder.done() && !decoder.failed(); at += step) {
    std::string_view piece = text.substr(at, step);
    std::size_t n = decoder.feed(piece, [&](std::string_view d) { out.data += d; });
    out.consumed += n;
    if (n < piece.size()) break;
  }
  out.done = decoder.done();
  out.failed = decoder.failed();
  return out;
}

TEST(ChunkedDecoder, DecodesChunksAndStopsAtTheEnd) {
  std::string body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
  for (std::size_t step : {1u, 2u, 3u, 7u, 1000u}) {
    Fed f = feed(body + "GET / HTTP/1.1\r\n", step);
    EXPECT_TRUE(f.done) << step;
    EXPECT_EQ(f.data, "hello world") << step;
    EXPECT_EQ(f.consumed, body.size()) << step;
  }
}

TEST(ChunkedDecoder, TrailersArePartOfTheBody) {
  std::string body = "3\r\nabc\r\n0\r\nX-Checksum: 42\r\nX-Other: a b\r\n\r\n";
  Fed f = feed(body + "next", 3);
  EXPECT_TRUE(f.done);
  EXPECT_EQ(f.consumed, body.size());
  EXPECT_EQ(f.data, "abc");
}

TEST(ChunkedDecoder, UpperAndLowerHexSizes) {
  Fed f = feed("A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n");
  EXPECT_TRUE(f.done);
  EXPECT_EQ(f.data.size(), 20u);
}

TEST(ChunkedDecoder, MalformedFramingFails) {
  for (std::string_view bad : {
           "x\r\nabc\r\n0\r\n\r\n",            // not hex
           "\r\nabc\r\n",                      // empty size
           "3\nabc\r\n0\r\n\r\n",              // bare LF after size
           "3\r\nabcd\r\n0\r\n\r\n",           // data longer than the size
           "3\r\nabc\n0\r\n\r\n",              // bare LF after data
           "-3\r\nabc\r\n",                    // sign
           "1111111111111111\r\n",             // 16 hex digits: overflow
           "0\r\nX : y\r\n\r\n",               // trailer with space before colon
           "0\r\nNoColon\r\n\r\n",             // trailer without colon
           "0\r\n\r\r",                        // bad final CRLF
           "3;ext=\x01\r\nabc\r\n0\r\n\r\n",   // control byte in extension
       }) {
    EXPECT_TRUE(feed(bad).failed) << bad;
  }
}

TEST(ChunkedDecoder, OverlongExtensionFails) {
  std::string line = "3;" + std::string(5000, 'a') + "\r\nabc\r\n0\r\n\r\n";
  EXPECT_TRUE(feed(line).failed);
}

TEST(ChunkedDecoder, CountsDataBytes) {
  ChunkedDecoder decoder;
  decoder.reset();
  decoder.feed("4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n", [](std::string_view) {});
  EXPECT_EQ(decoder.data_bytes(), 6u);
  EXPECT_TRUE(decoder.done());
}

}  // namespace
}  // namespace apimeter
