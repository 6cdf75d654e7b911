#include "net_ports.h"

#include <ESPmDNS.h>
#include <esp_timer.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "identity.h"

ArduinoWs* ArduinoWs::self_ = nullptr;


bool gateway_address(iotgw::HostCache& cache, const char* host, char out[16]) {
  const uint64_t now_ms = static_cast<uint64_t>(esp_timer_get_time() / 1000);
  if (cache.needs_lookup(now_ms, host)) {
    IPAddress a;
    const bool found = WiFi.hostByName(host, a) == 1;
    cache.store(now_ms, host, found ? (uint32_t(a[0]) << 24) | (uint32_t(a[1]) << 16) | (uint32_t(a[2]) << 8) | a[3] : 0);
  }
  const uint32_t addr = cache.address(host);
  return addr != 0 && iotgw::format_ipv4(out, 16, addr) > 0;
}

bool MdnsDiscovery::browse(iotgw::Endpoint* out) {
  // Blocks up to ~3 s; only called when the locator needs a gateway.
  const int n = MDNS.queryService("iotgw", "tcp");
  if (n <= 0) return false;
  // IP(i) is 0.0.0.0 for a result that came without an A record and port(i) is 0 without SRV;
  // the core picks the first result that has both.
  constexpr int kMaxAnswers = 8;
  iotgw::MdnsAnswer answers[kMaxAnswers];
  const int count = n < kMaxAnswers ? n : kMaxAnswers;
  for (int i = 0; i < count; ++i) {
    const IPAddress a = MDNS.IP(i);
    answers[i] = iotgw::MdnsAnswer{(uint32_t(a[0]) << 24) | (uint32_t(a[1]) << 16) | (uint32_t(a[2]) << 8) | a[3],
                                   MDNS.port(i)};
  }
  const int pick = iotgw::first_usable_answer(answers, count);
  if (pick < 0) return false;
  char ip[16];
  iotgw::format_ipv4(ip, sizeof ip, answers[pick].ipv4);
  iotgw::endpoint_init(*out, ip, answers[pick].port);
  static const char* const keys[] = {"id", "path", "ws", "auth"};
  for (const char* key : keys) {
    if (MDNS.hasTxt(pick, key)) iotgw::endpoint_apply_txt(*out, key, MDNS.txt(pick, key).c_str());
  }
  return true;
}

iotgw::HttpResult ArduinoHttp::post(const iotgw::Endpoint& ep, const char* body, size_t len, char* reply,
                                    size_t reply_cap) {
  char host[16];
  if (!gateway_address(hosts_, ep.host, host)) return iotgw::HttpResult{-1, 0, 0};  // a fast failure: the uplink backs off
  HTTPClient http;
  http.setConnectTimeout(3000);
  http.setTimeout(5000);
  if (!http.begin(tcp_, host, ep.port, ep.path)) return iotgw::HttpResult{-1, 0, 0};
  http.addHeader("Content-Type", "application/json");
  if (key_ != nullptr && key_[0] != '\0') {
    char auth[96];
    snprintf(auth, sizeof auth, "Bearer %s", key_);
    http.addHeader("Authorization", auth);
  }
  const char* wanted[] = {"Retry-After"};
  http.collectHeaders(wanted, 1);
  // HTTPClient returns negative HTTPC_ERROR_* codes when no HTTP answer came: the core treats
  // any status <= 0 as "not delivered".
  const int code = http.POST(reinterpret_cast<uint8_t*>(const_cast<char*>(body)), len);
  const uint32_t retry_after = code > 0 ? static_cast<uint32_t>(atol(http.header("Retry-After").c_str())) : 0;
  // The body (a 202's carries the firmware offer) is read into the core's buffer, not a String.
  size_t got = 0;
  const int size = code > 0 ? http.getSize() : -1;
  WiFiClient* stream = size > 0 ? http.getStreamPtr() : nullptr;
  if (stream != nullptr && reply != nullptr) {
    const size_t want = static_cast<size_t>(size) < reply_cap ? static_cast<size_t>(size) : reply_cap;
    got = stream->readBytes(reply, want);
  }
  http.end();
  return iotgw::HttpResult{code, retry_after, got};
}

namespace {
constexpr uint32_t kWsOpenTimeoutMs = 5000;
constexpr uint32_t kWsReadTimeoutS = 2;
}  // namespace

void ArduinoWs::on_event(WStype_t type, uint8_t* payload, size_t length) {
  ArduinoWs* me = self_;
  if (me == nullptr) return;
  switch (type) {
    case WStype_CONNECTED:
      me->connected_ = true;
      break;
    case WStype_DISCONNECTED:
      // Stop calling ws_.loop() until the core opens again, so the library never reconnects by
      // itself behind the core's back.
      me->connected_ = false;
      me->started_ = false;
      break;
    case WStype_TEXT:
      // A full mailbox drops the reply; the core then times out the ack and resends (the
      // gateway stores the duplicate once).
      me->mail_.put(payload, length);
      break;
    default:
      break;
  }
}

int ArduinoWs::open(const iotgw::Endpoint& ep) {
  close();
  self_ = this;
  mail_.clear();
  if (key_ != nullptr && key_[0] != '\0') {
    snprintf(auth_header_, sizeof auth_header_, "Authorization: Bearer %s", key_);
    ws_.setExtraHeaders(auth_header_);
  }
  ws_.onEvent(on_event);
  ws_.setReconnectInterval(60000);
  // Empty subprotocol: the library would otherwise ask for "arduino", which the gateway does not speak.
  ws_.begin(ep.host, ep.port, ep.ws_path, "");
  ws_.connect_now();
  started_ = true;
  int status = 0;
  const uint32_t t0 = millis();
  while (!connected_ && started_ && millis() - t0 < kWsOpenTimeoutMs) {
    ws_.loop();
    ws_.bound_reads(kWsReadTimeoutS);
    if (ws_.upgrade_status() != 0) status = ws_.upgrade_status();
    delay(10);
  }
  if (connected_) return iotgw::kWsUpgraded;
  close();
  return status != 0 && status != iotgw::kWsUpgraded ? status : -1;
}

bool ArduinoWs::is_open() {
  if (started_) ws_.loop();
  return connected_;
}

bool ArduinoWs::send_text(const char* text, size_t len) { return connected_ && ws_.sendTXT(text, len); }

int ArduinoWs::poll(char* buf, size_t cap) {
  if (started_) ws_.loop();
  const size_t n = mail_.take(buf, cap);  // replies that came before a close still count
  if (n > 0) return static_cast<int>(n);
  return connected_ ? 0 : -1;
}

void ArduinoWs::close() {
  if (started_ || connected_) ws_.disconnect();
  started_ = false;
  connected_ = false;
}
