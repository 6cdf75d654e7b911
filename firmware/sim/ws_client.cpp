#include "ws_client.h"

#include <stdlib.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "net.h"
#include "sha1.h"

namespace sim {

namespace {
const char kGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr size_t kMaxMessage = 1 << 20;
}  // namespace

int WsClient::open(const std::string& host, uint16_t port, const std::string& path, const std::string& bearer_key,
                   int timeout_ms) {
  close();
  uint8_t nonce[16];
  if (getrandom(nonce, sizeof nonce, 0) != static_cast<ssize_t>(sizeof nonce)) return -1;
  const std::string key = base64(nonce, sizeof nonce);
  const int fd = tcp_connect(host, port, timeout_ms);
  if (fd < 0) return -1;
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                    "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: iotgw-sim\r\n";
  if (!bearer_key.empty()) req += "Authorization: Bearer " + bearer_key + "\r\n";
  req += "\r\n";
  if (!send_all(fd, req.data(), req.size(), timeout_ms)) {
    ::close(fd);
    return -1;
  }
  std::string head;
  char chunk[2048];
  size_t end = std::string::npos;
  while ((end = head.find("\r\n\r\n")) == std::string::npos) {
    const long n = recv_some(fd, chunk, sizeof chunk, timeout_ms);
    if (n <= 0 || head.size() > 16384) {
      ::close(fd);
      return -1;
    }
    head.append(chunk, static_cast<size_t>(n));
  }
  // Expect 101 and the accept value derived from our key: anything else is not a WS server.
  const std::string expect_src = key + kGuid;
  uint8_t digest[20];
  sha1(reinterpret_cast<const uint8_t*>(expect_src.data()), expect_src.size(), digest);
  const std::string expect = base64(digest, sizeof digest);
  bool accepted = false;
  const int status = head.compare(0, 5, "HTTP/") == 0 && head.find(' ') != std::string::npos
                         ? atoi(head.c_str() + head.find(' ') + 1)
                         : -1;
  const bool switching = status == 101;
  size_t line = head.find("\r\n") + 2;
  while (line < end) {
    const size_t eol = head.find("\r\n", line);
    const std::string h = head.substr(line, eol - line);
    const size_t colon = h.find(':');
    if (colon != std::string::npos && strcasecmp(h.substr(0, colon).c_str(), "sec-websocket-accept") == 0) {
      size_t v = colon + 1;
      while (v < h.size() && h[v] == ' ') ++v;
      accepted = h.substr(v) == expect;
    }
    line = eol + 2;
  }
  if (!switching || !accepted) {
    ::close(fd);
    return switching || status <= 0 ? -1 : status;  // a 101 without the right accept: not a WS server
  }
  fd_ = fd;
  rx_ = head.substr(end + 4);  // frames the server sent right after the handshake
  partial_.clear();
  return 101;
}

bool WsClient::send_frame(uint8_t opcode, const char* data, size_t len) {
  if (fd_ < 0) return false;
  std::string f;
  f.reserve(len + 14);
  f += static_cast<char>(0x80 | opcode);  // FIN + opcode
  if (len < 126) {
    f += static_cast<char>(0x80 | len);  // MASK bit: clients must mask (RFC 6455 5.3)
  } else if (len < 65536) {
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>(len >> 8);
    f += static_cast<char>(len & 0xFF);
  } else {
    f += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i) f += static_cast<char>((static_cast<uint64_t>(len) >> (8 * i)) & 0xFF);
  }
  // xorshift mask: unpredictability against proxies is not a concern for a test client.
  mask_state_ ^= mask_state_ << 13;
  mask_state_ ^= mask_state_ >> 17;
  mask_state_ ^= mask_state_ << 5;
  const uint8_t mask[4] = {uint8_t(mask_state_ >> 24), uint8_t(mask_state_ >> 16), uint8_t(mask_state_ >> 8),
                           uint8_t(mask_state_)};
  f.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < len; ++i) f += static_cast<char>(data[i] ^ mask[i % 4]);
  if (!send_all(fd_, f.data(), f.size(), 5000)) {
    close();
    return false;
  }
  return true;
}

bool WsClient::send_text(const char* data, size_t len) { return send_frame(0x1, data, len); }

int WsClient::take_frame(char* buf, size_t cap, int* msg_len) {
  if (rx_.size() < 2) return 0;
  const uint8_t b0 = static_cast<uint8_t>(rx_[0]);
  const uint8_t b1 = static_cast<uint8_t>(rx_[1]);
  if (b1 & 0x80) return -1;  // servers must not mask
  uint64_t len = b1 & 0x7F;
  size_t hdr = 2;
  if (len == 126) {
    if (rx_.size() < 4) return 0;
    len = (uint64_t(uint8_t(rx_[2])) << 8) | uint8_t(rx_[3]);
    hdr = 4;
  } else if (len == 127) {
    if (rx_.size() < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | uint8_t(rx_[2 + i]);
    hdr = 10;
  }
  if (len > kMaxMessage) return -1;
  if (rx_.size() < hdr + len) return 0;
  const std::string payload = rx_.substr(hdr, static_cast<size_t>(len));
  rx_.erase(0, hdr + static_cast<size_t>(len));
  const bool fin = b0 & 0x80;
  const uint8_t op = b0 & 0x0F;
  switch (op) {
    case 0x9:  // ping: answer with the same payload
      send_frame(0xA, payload.data(), payload.size());
      return 2;
    case 0xA:  // pong
      return 2;
    case 0x8:  // close: echo it and stop
      send_frame(0x8, payload.data(), payload.size() >= 2 ? 2 : 0);
      close();
      return -1;
    case 0x1:
    case 0x0:
      partial_ += payload;
      if (partial_.size() > kMaxMessage) return -1;
      if (!fin) return 2;
      if (partial_.size() > cap) partial_.resize(cap);  // caller's buffer bounds what it reads
      partial_.copy(buf, partial_.size());
      *msg_len = static_cast<int>(partial_.size());
      partial_.clear();
      return 1;
    default:  // binary or reserved: not part of our protocol, skip
      return 2;
  }
}

int WsClient::poll(char* buf, size_t cap, int wait_ms) {
  if (fd_ < 0) return -1;
  for (;;) {
    int len = 0;
    int rc;
    do {
      rc = take_frame(buf, cap, &len);
    } while (rc == 2 && fd_ >= 0);
    if (rc == 1) return len;
    if (rc < 0 || fd_ < 0) {
      close();
      return -1;
    }
    char chunk[4096];
    const long n = recv_some(fd_, chunk, sizeof chunk, wait_ms);
    if (n == kRecvTimeout) return 0;  // nothing yet
    if (n <= 0) {                     // orderly close or reset
      close();
      return -1;
    }
    rx_.append(chunk, static_cast<size_t>(n));
    wait_ms = 0;  // parse what came, but do not wait again in this call
  }
}

void WsClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace sim
