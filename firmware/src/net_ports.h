// The core's I/O ports on the ESP32 Arduino core 2.x: mDNS browse (ESPmDNS), HTTP POST
// (HTTPClient) and WebSocket (links2004/WebSockets). Each call is bounded by a timeout; the
// decisions (what to send, when to retry, which gateway) stay in the core's Uplink.
#pragma once

#include <HTTPClient.h>
#include <WebSocketsClient.h>
#include <WiFi.h>

#include "host_cache.h"
#include "ports.h"
#include "reply_mailbox.h"

// The IPv4 text to connect to for a gateway host: an mDNS answer's address as it is, a fallback
// name through `cache` (looked up at most once per TTL). False when the name is unknown for now.
bool gateway_address(iotgw::HostCache& cache, const char* host, char out[16]);

class MdnsDiscovery final : public iotgw::DiscoveryPort {
 public:
  bool browse(iotgw::Endpoint* out) override;
};

class ArduinoHttp final : public iotgw::HttpPort {
 public:
  explicit ArduinoHttp(const char* device_key) : key_(device_key) {}
  iotgw::HttpResult post(const iotgw::Endpoint& ep, const char* body, size_t len, char* reply,
                         size_t reply_cap) override;

 private:
  const char* key_;
  WiFiClient tcp_;
  // A fallback gateway given by name is resolved once per 10 minutes (once a minute after a
  // failed lookup): WiFiGenericClass::hostByName waits up to 15 s, and HTTPClient would resolve
  // it again on every POST.
  iotgw::HostCache hosts_{10UL * 60UL * 1000UL, 60UL * 1000UL};
};

// links2004/WebSockets 2.6.1 with three corrections, made through members its WebSocketsClient.h
// declares protected (_client, _lastConnectionFail, _reconnectInterval):
class BoundedWsClient final : public WebSocketsClient {
 public:
  // begin() zeroes _lastConnectionFail (WebSocketsClient.cpp:95) and loop() will not connect
  // while millis() - _lastConnectionFail < _reconnectInterval (:239): with our 60 s interval the
  // first connection waited until a minute after boot, and again after every millis() wrap.
  // This makes the next loop() connect at once; the interval keeps the library from
  // reconnecting on its own afterwards (reconnects are the core's call).
  void connect_now() { _lastConnectionFail = millis() - _reconnectInterval; }
  // connectedCb() sets the stream timeout to WEBSOCKETS_TCP_TIMEOUT = 5000 (:920), and
  // WiFiClient::setTimeout takes seconds on the 2.0.x core (WiFiClient.h:93, "uint32_t seconds"):
  // a handshake line that never ended blocked readStringUntil() for 83 minutes.
  void bound_reads(uint32_t seconds) {
    if (_client.tcp != nullptr) _client.tcp->setTimeout(seconds);
  }
  // The status code of the upgrade's answer once its status line was read (handleHeader, :765),
  // else 0. clientDisconnect() zeroes it (:561) and emits no event that carries it, so a 401 was
  // invisible; the glue samples it after every loop() (one header line is read per loop, :623).
  int upgrade_status() const { return _client.cCode; }
};

class ArduinoWs final : public iotgw::WsPort {
 public:
  explicit ArduinoWs(const char* device_key) : key_(device_key) {}
  int open(const iotgw::Endpoint& ep) override;
  bool is_open() override;
  bool send_text(const char* text, size_t len) override;
  int poll(char* buf, size_t cap) override;
  void close() override;

 private:
  static void on_event(WStype_t type, uint8_t* payload, size_t length);
  static ArduinoWs* self_;

  const char* key_;
  BoundedWsClient ws_;
  bool started_ = false;
  bool connected_ = false;
  // Replies arrive in a callback during ws_.loop() and wait here for poll(). A slot holds an ack
  // with a firmware offer (~200 bytes); a longer reply is kept cut, never dropped.
  iotgw::ReplyMailbox<4, 384> mail_;
  char auth_header_[96] = {};
};
