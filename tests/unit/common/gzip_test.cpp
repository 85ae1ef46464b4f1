// gzip output is a valid gzip stream that inflates back to the input.
#include "common/gzip.hpp"

#include <gtest/gtest.h>

#include <string>

#include <zlib.h>

namespace apimeter {
namespace {

// Inflates in chunks, as a scraper would, so any compression ratio works.
std::string gunzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char chunk[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - zs.avail_out);
  }
  EXPECT_EQ(rc, Z_STREAM_END);
  inflateEnd(&zs);
  return out;
}

TEST(Gzip, RoundTripsThroughZlibInflate) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += std::string("http_server_request_duration_seconds_bucket{le=\"0.005\"} ") + std::to_string(i) + "\n";
  const std::string compressed = gzip(text);
  ASSERT_GE(compressed.size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>(compressed[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(compressed[1]), 0x8b);
  EXPECT_LT(compressed.size(), text.size() / 5);
  EXPECT_TRUE(gunzip(compressed) == text);
  EXPECT_EQ(gunzip(gzip("")), "");
}

}  // namespace
}  // namespace apimeter
