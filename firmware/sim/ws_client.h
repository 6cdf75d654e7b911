// Minimal RFC 6455 WebSocket client: handshake with Sec-WebSocket-Accept check, masked client
// frames, text messages (fragmented or not), ping -> pong, close handshake. Single-threaded.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>

namespace sim {

class WsClient {
 public:
  WsClient() = default;
  ~WsClient() { close(); }
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // 101 when open; the HTTP status the server answered the upgrade with instead; -1 when no
  // (valid) answer came. The same contract as iotgw::WsPort::open.
  int open(const std::string& host, uint16_t port, const std::string& path, const std::string& bearer_key,
           int timeout_ms);
  bool is_open() const { return fd_ >= 0; }
  bool send_text(const char* data, size_t len);
  // Next complete text message into buf: length; 0 if none arrived within wait_ms; -1 if closed.
  int poll(char* buf, size_t cap, int wait_ms);
  void close();
  int fd() const { return fd_; }

 private:
  bool send_frame(uint8_t opcode, const char* data, size_t len);
  // Parses one frame out of rx_: 1 = a text message is in buf, 2 = a control frame or fragment was
  // consumed, 0 = need more bytes, -1 = protocol error or close.
  int take_frame(char* buf, size_t cap, int* msg_len);

  int fd_ = -1;
  std::string rx_;        // bytes received, not yet parsed
  std::string partial_;   // fragments of a text message in progress
  uint32_t mask_state_ = 0x2545F491u;
};

}  // namespace sim
