// The only ways the core touches the outside world. The Arduino glue (src/net_ports.cpp) and the
// host simulator (sim/) implement these; tests implement them with scripted fakes. All calls may
// block for a bounded time (the board's loop is single-threaded, like the original sketch).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"

namespace iotgw {

// Asks mDNS for `_iotgw._tcp`; fills `out` with the first answer (host = its IPv4 address, TXT
// applied with endpoint_apply_txt) and returns true, or returns false if nobody answered.
class DiscoveryPort {
 public:
  virtual bool browse(Endpoint* out) = 0;

 protected:
  ~DiscoveryPort() = default;
};

struct HttpResult {
  int status;              // HTTP status; <= 0: no answer (refused, timeout, reset)
  uint32_t retry_after_s;  // Retry-After header in seconds, 0 if absent
  size_t reply_len;        // bytes of the response body copied into the caller's buffer
};

// POSTs `body` as application/json to ep.host:ep.port ep.path, adding the device key header
// when one is configured, and copies up to reply_cap bytes of the response body into `reply`
// (a longer body is cut: the 202 body's firmware offer is read from it).
class HttpPort {
 public:
  virtual HttpResult post(const Endpoint& ep, const char* body, size_t len, char* reply, size_t reply_cap) = 0;

 protected:
  ~HttpPort() = default;
};

// What WsPort::open returns when the handshake completed.
constexpr int kWsUpgraded = 101;

class WsPort {
 public:
  // Opens ws://ep.host:ep.port ep.ws_path (with the device key when configured). Returns
  // kWsUpgraded when the connection is open; the HTTP status the gateway answered the upgrade
  // with instead (401 for a missing or wrong key, 404, ...); <= 0 when no answer came.
  virtual int open(const Endpoint& ep) = 0;
  virtual bool is_open() = 0;
  // Sends one text message; false if the connection is gone.
  virtual bool send_text(const char* text, size_t len) = 0;
  // One received text message copied into buf: its length; 0 if none is waiting; < 0 if the
  // connection closed. Must not block for long: the uplink calls it every tick.
  virtual int poll(char* buf, size_t cap) = 0;
  virtual void close() = 0;

 protected:
  ~WsPort() = default;
};

}  // namespace iotgw
