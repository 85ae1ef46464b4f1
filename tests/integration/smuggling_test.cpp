// Request smuggling and malformed heads: every ambiguous or malformed request gets the error status with its
// one-line body, the client connection is closed, and the upstream never sees a byte of it. The upstream is
// scripted: the first request that reaches it must be a canary sent after the rejected one.
#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

struct RejectedCase {
  const char* name;
  std::string request;  // short enough to arrive in one read, so nothing can be forwarded before the error
  int status;
  std::string body;
};

void PrintTo(const RejectedCase& c, std::ostream* os) { *os << c.name; }

const std::string kBadRequestLine = "bad request: malformed request line\n";
const std::string kBadTarget = "bad request: malformed request target\n";
const std::string kBareCrLf = "bad request: bare CR or LF\n";
const std::string kObsFold = "bad request: obsolete line folding\n";
const std::string kBadName = "bad request: invalid header name\n";
const std::string kBadValue = "bad request: invalid character in header value\n";
const std::string kBadLength = "bad request: invalid Content-Length\n";
const std::string kDuplicateLength = "bad request: duplicate Content-Length\n";
const std::string kLengthAndEncoding = "bad request: both Content-Length and Transfer-Encoding\n";
const std::string kNotChunkedLast = "bad request: Transfer-Encoding must end in chunked\n";
const std::string kBadChunk = "bad request: malformed chunked body\n";

std::string post(std::string_view fields_and_body) {
  return "POST /sink HTTP/1.1\r\nHost: test.local\r\n" + std::string(fields_and_body);
}

const RejectedCase kCases[] = {
    {"ContentLengthWithTransferEncoding",
     post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 400, kLengthAndEncoding},
    {"TransferEncodingWithContentLength",
     post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 400, kLengthAndEncoding},
    {"DuplicateContentLength", post("Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"), 400, kDuplicateLength},
    {"ConflictingContentLengths", post("Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"), 400,
     kDuplicateLength},
    {"ContentLengthList", post("Content-Length: 5, 5\r\n\r\nhello"), 400, kBadLength},
    {"SignedContentLength", post("Content-Length: +5\r\n\r\nhello"), 400, kBadLength},
    {"NegativeContentLength", post("Content-Length: -1\r\n\r\nhello"), 400, kBadLength},
    {"HexContentLength", post("Content-Length: 0x5\r\n\r\nhello"), 400, kBadLength},
    {"TransferEncodingNotEndingInChunked", post("Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
     400, kNotChunkedLast},
    {"TransferEncodingWithoutChunked", post("Transfer-Encoding: gzip\r\n\r\nhello"), 400, kNotChunkedLast},
    {"ChunkedTwice", post("Transfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 400,
     kNotChunkedLast},
    {"ChunkedTwiceInTwoFields",
     post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 400,
     kNotChunkedLast},
    {"TransferEncodingInHttp10",
     "POST /sink HTTP/1.0\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400,
     "bad request: Transfer-Encoding in HTTP/1.0\n"},
    {"InvalidChunkSize", post("Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"), 400, kBadChunk},
    {"NegativeChunkSize", post("Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"), 400, kBadChunk},
    {"PrefixedChunkSize", post("Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"), 400, kBadChunk},
    {"OverflowingChunkSize", post("Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n"), 400,
     kBadChunk},
    {"ChunkDataLongerThanItsSize", post("Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n"), 400, kBadChunk},
    {"ChunkSizeLineWithBareLf", post("Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"), 400, kBadChunk},
    {"BareCrInAFieldLine", get_request("/headers", "X-A: a\rX-B: b\r\n"), 400, kBareCrLf},
    {"BareLfLineEndings", "GET /headers HTTP/1.1\nHost: test.local\n\n", 400, kBareCrLf},
    {"BareLfBetweenFields", "GET /headers HTTP/1.1\r\nHost: test.local\nX-A: a\r\n\r\n", 400, kBareCrLf},
    {"ObsFold", get_request("/headers", "X-A: a\r\n  folded\r\n"), 400, kObsFold},
    {"WhitespaceBeforeTheFirstField", "GET /headers HTTP/1.1\r\n Host: test.local\r\n\r\n", 400, kObsFold},
    {"SpaceBeforeColon", get_request("/headers", "X-A : a\r\n"), 400,
     "bad request: whitespace before header colon\n"},
    {"TabBeforeColon", get_request("/headers", "X-A\t: a\r\n"), 400, "bad request: whitespace before header colon\n"},
    {"SeparatorInFieldName", get_request("/headers", "X(A): a\r\n"), 400, kBadName},
    {"SpaceInFieldName", get_request("/headers", "X A: a\r\n"), 400, kBadName},
    {"EmptyFieldName", get_request("/headers", ": a\r\n"), 400, kBadName},
    {"NulInFieldValue", get_request("/headers", std::string("X-A: a\0b\r\n", 10)), 400, kBadValue},
    {"ControlCharacterInFieldValue", get_request("/headers", "X-A: a\x01" "b\r\n"), 400, kBadValue},
    {"DeleteInFieldValue", get_request("/headers", "X-A: a\x7f" "b\r\n"), 400, kBadValue},
    {"MissingHostInHttp11", "GET /headers HTTP/1.1\r\nX-A: a\r\n\r\n", 400, "bad request: missing Host header\n"},
    {"DuplicateHost", "GET /headers HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", 400,
     "bad request: duplicate Host header\n"},
    {"InvalidHost", "GET /headers HTTP/1.1\r\nHost: a b.test\r\n\r\n", 400, "bad request: invalid Host header\n"},
    {"DoubleSpaceInRequestLine", "GET  /headers HTTP/1.1\r\nHost: test.local\r\n\r\n", 400, kBadTarget},
    {"LowercaseHttpVersion", "GET /headers http/1.1\r\nHost: test.local\r\n\r\n", 400, kBadRequestLine},
    {"FragmentInTarget", "GET /headers#frag HTTP/1.1\r\nHost: test.local\r\n\r\n", 400, kBadTarget},
    {"UnsupportedCodingBeforeChunked", post("Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 501,
     "transfer coding not implemented\n"},
};

class RejectedRequestTest : public ::testing::TestWithParam<RejectedCase> {};

TEST_P(RejectedRequestTest, IsAnsweredWithItsErrorClosedAndNeverReachesTheUpstream) {
  const RejectedCase& c = GetParam();
  RawListener upstream;
  Apimeter proxy = start_apimeter({"--upstream", "127.0.0.1:" + std::to_string(upstream.port())});

  RawConnection client = RawConnection::connect(proxy.port);
  ASSERT_TRUE(client.send(c.request));
  HttpResponse response = read_final_response(client, kIo);
  EXPECT_EQ(response.status, c.status) << response.error << "\n" << response.head;
  EXPECT_EQ(response.body, c.body);
  EXPECT_TRUE(response.connection_has("close")) << response.head;
  EXPECT_TRUE(client.wait_closed(kIo)) << "the connection stayed open after the error";

  // Had the proxy forwarded anything, its connection would be the first in the upstream's queue.
  RawConnection canary = RawConnection::connect(proxy.port);
  ASSERT_TRUE(canary.send(get_request("/canary")));
  auto server = upstream.accept(kIo);
  ASSERT_TRUE(server.has_value()) << "the canary never reached the upstream";
  auto head = server->read_until("\r\n\r\n", kIo);
  ASSERT_TRUE(head.has_value()) << "received: " << server->buffer();
  EXPECT_TRUE(head->starts_with("GET /canary HTTP/1.1\r\n")) << "the upstream first received:\n" << *head;
  ASSERT_TRUE(server->send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  HttpResponse canary_response = read_final_response(canary, kIo);
  EXPECT_EQ(canary_response.status, 200) << canary_response.error;
}

INSTANTIATE_TEST_SUITE_P(Smuggling, RejectedRequestTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<RejectedCase>& info) { return std::string(info.param.name); });

TEST(SmugglingTest, PipelinedRequestBehindAnAmbiguousOneIsNeverForwarded) {
  // The classic CL.TE payload: a front end reading Content-Length would forward "GET /smuggled" as a second
  // request, one reading Transfer-Encoding as part of the body. Both readings must lose.
  RawListener upstream;
  Apimeter proxy = start_apimeter({"--upstream", "127.0.0.1:" + std::to_string(upstream.port())});
  RawConnection client = RawConnection::connect(proxy.port);
  ASSERT_TRUE(client.send("POST /sink HTTP/1.1\r\nHost: test.local\r\nContent-Length: 4\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: test.local\r\n\r\n"));
  HttpResponse response = read_final_response(client, kIo);
  EXPECT_EQ(response.status, 400) << response.error;
  EXPECT_TRUE(client.wait_closed(kIo));
  // Nothing after the rejected request on that connection is answered either.
  EXPECT_TRUE(client.buffer().empty()) << "bytes after the 400: " << client.buffer();

  RawConnection canary = RawConnection::connect(proxy.port);
  ASSERT_TRUE(canary.send(get_request("/canary")));
  auto server = upstream.accept(kIo);
  ASSERT_TRUE(server.has_value());
  auto head = server->read_until("\r\n\r\n", kIo);
  ASSERT_TRUE(head.has_value());
  EXPECT_TRUE(head->starts_with("GET /canary HTTP/1.1\r\n")) << *head;
}

TEST(SmugglingTest, BodyOfARequestRefusedFor413IsNeverParsedAsTheNextRequest) {
  // The proxy refuses on the declared length before reading the body; the body bytes that follow are the
  // client's and must be discarded with the connection, not read as a request of their own.
  RawListener upstream;
  Apimeter proxy = start_apimeter({"--upstream", "127.0.0.1:" + std::to_string(upstream.port()),
                                   "--max-request-body-bytes", "64"});
  std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: test.local\r\nX-Pad: ";
  smuggled += std::string(100 - smuggled.size() - 4, 'p') + "\r\n\r\n";
  ASSERT_EQ(smuggled.size(), 100u);
  RawConnection client = RawConnection::connect(proxy.port);
  ASSERT_TRUE(client.send("POST /sink HTTP/1.1\r\nHost: test.local\r\nContent-Length: 100\r\n\r\n" + smuggled));
  HttpResponse response = read_final_response(client, kIo);
  EXPECT_EQ(response.status, 413) << response.error;
  EXPECT_EQ(response.body, "request body too large\n");
  EXPECT_TRUE(response.connection_has("close")) << response.head;

  RawConnection canary = RawConnection::connect(proxy.port);
  ASSERT_TRUE(canary.send(get_request("/canary")));
  auto server = upstream.accept(kIo);
  ASSERT_TRUE(server.has_value()) << "nothing reached the upstream";
  auto head = server->read_until("\r\n\r\n", kIo);
  ASSERT_TRUE(head.has_value());
  EXPECT_TRUE(head->starts_with("GET /canary HTTP/1.1\r\n")) << "the upstream first received:\n" << *head;
  EXPECT_TRUE(client.wait_closed(kIo)) << "the connection stayed open after the 413";
  EXPECT_TRUE(client.buffer().empty()) << "a second response followed the 413:\n" << client.buffer();
}

TEST(SmugglingTest, ChunkedBodyIsForwardedWithCanonicalFraming) {
  // Whatever framing the client used, the upstream gets exactly one, so it cannot disagree with the proxy.
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), get_request("/headers",
                                                             "Transfer-Encoding: Chunked\r\n",
                                                             "POST") + "3\r\nabc\r\n0\r\n\r\n");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(echoed_header(response.body, "Transfer-Encoding"), "chunked") << response.body;
  EXPECT_EQ(echoed_header_count(response.body, "Transfer-Encoding"), 1u) << response.body;
  EXPECT_FALSE(echoed_header(response.body, "Content-Length").has_value()) << response.body;
}

TEST(SmugglingTest, FieldsNamedLikeFramingWithUnderscoresAreNeverForwarded) {
  // A server that folds '_' into '-' (CGI, WSGI) would read these as a second framing header.
  Stack stack = start_stack();
  HttpResponse response = round_trip(
      stack.port(), get_request("/headers", "Content_Length: 5\r\ntransfer_encoding: chunked\r\nX_Kept: 1\r\n"));
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_FALSE(echoed_header(response.body, "Content_Length").has_value()) << response.body;
  EXPECT_FALSE(echoed_header(response.body, "transfer_encoding").has_value()) << response.body;
  EXPECT_EQ(echoed_header(response.body, "X_Kept"), "1") << response.body;  // other underscores pass
}

TEST(SmugglingTest, H2cUpgradeIsRemovedAndTheRequestForwardedPlain) {
  Stack stack = start_stack();
  HttpResponse response = round_trip(stack.port(), get_request("/headers",
                                                             "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                                                             "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"));
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_FALSE(echoed_header(response.body, "Upgrade").has_value()) << response.body;
  EXPECT_FALSE(echoed_header(response.body, "HTTP2-Settings").has_value()) << response.body;
  EXPECT_FALSE(echoed_header(response.body, "Connection").has_value()) << response.body;
  // The connection stays an HTTP/1.1 one: the next request on it is answered normally.
  HttpResponse mixed = round_trip(stack.port(), get_request("/headers", "Connection: Upgrade\r\nUpgrade: websocket, h2c\r\n"));
  ASSERT_EQ(mixed.status, 200) << mixed.error;
  EXPECT_FALSE(echoed_header(mixed.body, "Upgrade").has_value()) << mixed.body;
}

}  // namespace
}  // namespace apimeter::test
