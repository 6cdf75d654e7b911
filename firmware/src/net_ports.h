// The core's I/O ports on the ESP32 Arduino core 2.x: mDNS browse (ESPmDNS), HTTP POST
// (HTTPClient) and WebSocket (links2004/WebSockets). Each call is bounded by a timeout; the
// decisions (what to send, when to retry, which gateway) stay in the core's Uplink.
#pragma once

#include <HTTPClient.h>
#include <WebSocketsClient.h>
#include <WiFi.h>

#include "host_cache.h"
#include "ports.h"

class MdnsDiscovery final : public iotgw::DiscoveryPort {
 public:
  bool browse(iotgw::Endpoint* out) override;
};

class ArduinoHttp final : public iotgw::HttpPort {
 public:
  explicit ArduinoHttp(const char* device_key) : key_(device_key) {}
  iotgw::HttpResult post(const iotgw::Endpoint& ep, const char* body, size_t len) override;

 private:
  const char* key_;
  WiFiClient tcp_;
  // A fallback gateway given by name is resolved once per 10 minutes (once a minute after a
  // failed lookup): WiFiGenericClass::hostByName waits up to 15 s, and HTTPClient would resolve
  // it again on every POST.
  iotgw::HostCache hosts_{10UL * 60UL * 1000UL, 60UL * 1000UL};
};

class ArduinoWs final : public iotgw::WsPort {
 public:
  explicit ArduinoWs(const char* device_key) : key_(device_key) {}
  bool open(const iotgw::Endpoint& ep) override;
  bool is_open() override;
  bool send_text(const char* text, size_t len) override;
  int poll(char* buf, size_t cap) override;
  void close() override;

 private:
  static void on_event(WStype_t type, uint8_t* payload, size_t length);
  static ArduinoWs* self_;

  const char* key_;
  WebSocketsClient ws_;
  bool started_ = false;
  bool connected_ = false;
  // Replies arrive in a callback during ws_.loop(); a small fixed mailbox hands them to poll().
  static constexpr int kSlots = 8;
  static constexpr size_t kSlotSize = 192;  // {"ack":N,"accepted":M} or a short nack
  char mail_[kSlots][kSlotSize] = {};
  uint16_t mail_len_[kSlots] = {};
  int mail_head_ = 0;
  int mail_count_ = 0;
  char auth_header_[96] = {};
};
