// WebSocket through the proxy: the upgrade handshake is relayed with its Upgrade fields, then frames flow
// both ways through the tunnel until the closing handshake ends both connections.
#include "tests/integration/harness.hpp"

namespace apimeter::test {
namespace {

std::string upgrade_request(std::string_view path = "/ws") {
  return get_request(path, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
                               std::string(ws::kSampleKey) + "\r\nSec-WebSocket-Version: 13\r\n");
}

TEST(WebSocketTest, UpgradeHandshakeIsRelayedWithItsUpgradeFields) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(upgrade_request()));
  HttpResponse response = read_response(client, kIo);
  ASSERT_EQ(response.status, 101) << response.error << "\n" << response.head;
  EXPECT_TRUE(iequals(response.header("Upgrade").value_or(""), "websocket")) << response.head;
  EXPECT_TRUE(response.connection_has("upgrade")) << response.head;
  EXPECT_EQ(response.header("Sec-WebSocket-Accept"), std::string(ws::kSampleAccept)) << response.head;
}

TEST(WebSocketTest, MessagesAreEchoedThroughTheTunnelAndTheCloseIsClean) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(upgrade_request()));
  HttpResponse response = read_response(client, kIo);
  ASSERT_EQ(response.status, 101) << response.error << "\n" << response.head;

  ASSERT_TRUE(client.send(websocket_client_frame(ws::kText, "hello through apimeter")));
  auto text = read_websocket_message(client, kIo);
  ASSERT_TRUE(text.has_value());
  EXPECT_TRUE(text->fin);
  EXPECT_EQ(text->opcode, ws::kText);
  EXPECT_FALSE(text->masked) << "server frames are never masked";
  EXPECT_EQ(text->payload, "hello through apimeter");

  // Larger than the 16-bit length and than one proxy buffer; the echo may come back fragmented.
  std::string big = demo_pattern(200000);
  ASSERT_TRUE(client.send(websocket_client_frame(ws::kBinary, big, true, 0x01020304)));
  auto binary = read_websocket_message(client, kIo);
  ASSERT_TRUE(binary.has_value());
  EXPECT_EQ(binary->opcode, ws::kBinary);
  EXPECT_TRUE(binary->payload == big) << "binary payload differs (" << binary->payload.size() << " bytes)";

  ASSERT_TRUE(client.send(websocket_client_frame(ws::kPing, "are you there")));
  auto pong = read_websocket_message(client, kIo);
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->opcode, ws::kPong);
  EXPECT_EQ(pong->payload, "are you there");

  // Closing handshake: status 1000, echoed by the server, then the TCP connection ends.
  ASSERT_TRUE(client.send(websocket_client_frame(ws::kClose, std::string("\x03\xe8" "bye", 5))));
  auto close = read_websocket_message(client, kIo);
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->opcode, ws::kClose);
  ASSERT_GE(close->payload.size(), 2u);
  EXPECT_EQ(close->payload.substr(0, 2), std::string("\x03\xe8", 2));
  EXPECT_TRUE(client.wait_closed(kIo)) << "the tunnel stayed open after the closing handshake";
  EXPECT_FALSE(client.was_reset()) << "the tunnel ended with a reset instead of a close";
  EXPECT_TRUE(client.buffer().empty()) << "bytes after the close frame: " << client.buffer().size();
}

TEST(WebSocketTest, MessagesSentBackToBackAreEchoedInOrder) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  ASSERT_TRUE(client.send(upgrade_request()));
  HttpResponse response = read_response(client, kIo);
  ASSERT_EQ(response.status, 101) << response.error;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(client.send(websocket_client_frame(ws::kText, "m" + std::to_string(i))));
  for (int i = 0; i < 20; ++i) {
    auto frame = read_websocket_message(client, kIo);
    ASSERT_TRUE(frame.has_value()) << "message " << i;
    EXPECT_EQ(frame->payload, "m" + std::to_string(i));
  }
}

TEST(WebSocketTest, UpgradeRefusedByTheUpstreamIsAnOrdinaryResponse) {
  Stack stack = start_stack();
  RawConnection client = RawConnection::connect(stack.port());
  // /headers does not upgrade: the answer is a normal 200 and the connection stays HTTP.
  ASSERT_TRUE(client.send(upgrade_request("/headers")));
  HttpResponse response = read_final_response(client, kIo);
  ASSERT_EQ(response.status, 200) << response.error;
  ASSERT_TRUE(client.send(get_request("/bytes/3")));
  HttpResponse next = read_final_response(client, kIo);
  EXPECT_EQ(next.status, 200) << next.error;
  EXPECT_EQ(next.body, "ABC");
}

}  // namespace
}  // namespace apimeter::test
