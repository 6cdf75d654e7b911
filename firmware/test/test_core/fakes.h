// Scripted stand-ins for the core's I/O ports, and helpers to make readings.
#pragma once

#include <doctest.h>
#include <nlohmann/json.hpp>

#include <string.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "iotgw_core.h"

namespace fakes {

inline iotgw::Identity identity(const char* device = "esp32-a4cf12345678", const char* group = "net-192-168-1-1") {
  iotgw::Identity id{};
  iotgw::copy_str(id.device_id, sizeof id.device_id, device);
  iotgw::copy_str(id.group_id, sizeof id.group_id, group);
  iotgw::copy_str(id.device_type, sizeof id.device_type, "esp32");
  iotgw::copy_str(id.boot_id, sizeof id.boot_id, "0123456789abcdef");
  iotgw::copy_str(id.fw_version, sizeof id.fw_version, "0.1.0");
  iotgw::copy_str(id.chip_model, sizeof id.chip_model, "ESP32-D0WDQ6");
  return id;
}

inline iotgw::Sample sample(uint32_t seq) {
  iotgw::Sample s{};
  s.seq = seq;
  s.ts_ms = 1700000000000LL + seq;
  s.uptime_ms = 93784000ull + seq;  // 1d 02:03:04
  s.loop_count = seq * 10;
  s.heap_free = 200000;
  s.heap_total = 300000;
  s.psram_free = 0;
  s.psram_total = 0;
  s.cpu_freq_mhz = 240;
  s.cpu_temp_c = 47.25f;
  s.flash_size = 4194304;
  s.wifi_rssi = -61;
  s.chip_cores = 2;
  s.chip_revision = 3;
  s.reset_reason = iotgw::ResetReason::kPowerOn;
  s.local_ip = 0xC0A80132u;  // 192.168.1.50
  return s;
}

inline iotgw::Endpoint gateway(const char* host = "192.168.1.10", bool ws = false) {
  iotgw::Endpoint ep;
  iotgw::endpoint_init(ep, host, 3000);
  iotgw::endpoint_apply_txt(ep, "id", "gw-1");
  if (ws) iotgw::endpoint_apply_txt(ep, "ws", "/ws");
  return ep;
}

// Answers mDNS queries with `ep` while `answer()` says so.
struct FakeDiscovery final : iotgw::DiscoveryPort {
  std::function<bool(int call)> answer = [](int) { return true; };
  iotgw::Endpoint ep = gateway();
  int calls = 0;
  bool browse(iotgw::Endpoint* out) override {
    const bool found = answer(calls++);
    if (found) *out = ep;
    return found;
  }
};

// Answers each POST with `respond(body)`; records every body and host.
struct FakeHttp final : iotgw::HttpPort {
  std::function<iotgw::HttpResult(const nlohmann::json&)> respond = [](const nlohmann::json&) {
    return iotgw::HttpResult{202, 0, 0};
  };
  std::vector<nlohmann::json> bodies;
  std::vector<std::string> hosts;
  std::string reply_body;  // copied into the caller's reply buffer on every answer
  iotgw::HttpResult post(const iotgw::Endpoint& ep, const char* body, size_t len, char* reply,
                         size_t reply_cap) override {
    nlohmann::json j = nlohmann::json::parse(std::string(body, len));  // throws on invalid JSON
    bodies.push_back(j);
    hosts.push_back(ep.host);
    iotgw::HttpResult r = respond(j);
    r.reply_len = reply_body.copy(reply, reply_cap);
    return r;
  }
};

// A WebSocket that records sent messages; the test queues replies or closes it.
struct FakeWs final : iotgw::WsPort {
  bool open_ok = true;
  bool is_open_ = false;
  int opens = 0;
  std::vector<nlohmann::json> sent;
  std::deque<std::string> replies;
  // When set, called for every sent message; a non-empty result is queued as the gateway's reply.
  std::function<std::string(const nlohmann::json&)> responder;
  int refused_status = 0;  // when !open_ok: the upgrade's answer (e.g. 401), 0 = none
  int open(const iotgw::Endpoint&) override {
    ++opens;
    is_open_ = open_ok;
    return open_ok ? iotgw::kWsUpgraded : refused_status;
  }
  bool is_open() override { return is_open_; }
  bool send_text(const char* t, size_t n) override {
    if (!is_open_) return false;
    sent.push_back(nlohmann::json::parse(std::string(t, n)));
    if (responder) {
      const std::string r = responder(sent.back());
      if (!r.empty()) replies.push_back(r);
    }
    return true;
  }
  int poll(char* buf, size_t cap) override {
    if (!is_open_) return -1;
    if (replies.empty()) return 0;
    const std::string r = replies.front();
    replies.pop_front();
    const size_t n = r.size() < cap ? r.size() : cap;
    r.copy(buf, n);
    return static_cast<int>(n);
  }
  void close() override { is_open_ = false; }
  void ack(uint32_t m) { replies.push_back("{\"ack\":" + std::to_string(m) + "}"); }
  // Acks every message sent so far that has not been acked yet.
  size_t acked_upto = 0;
  void ack_all() {
    for (; acked_upto < sent.size(); ++acked_upto) ack(sent[acked_upto]["seq"].get<uint32_t>());
  }
};

// Records acked ranges as individual seqs.
struct Recorder final : iotgw::UplinkObserver {
  std::vector<uint32_t> acked;
  std::vector<std::string> acked_boot;  // the boot_id of each acked seq
  std::vector<uint32_t> rejected;
  std::vector<uint32_t> backoff_status;  // the status of each kBackoff event
  std::vector<iotgw::FirmwareOffer> offers;
  void on_acked(const iotgw::Identity& id, uint32_t first, uint32_t last, uint32_t count) override {
    CHECK(count == last - first + 1);
    for (uint32_t s = first; s <= last; ++s) {
      acked.push_back(s);
      acked_boot.push_back(id.boot_id);
    }
  }
  void on_offer(const iotgw::FirmwareOffer& o) override { offers.push_back(o); }
  void on_event(iotgw::UplinkEvent ev, uint32_t a, uint32_t b) override {
    if (ev == iotgw::UplinkEvent::kRejected) {
      for (uint32_t i = 0; i < b; ++i) rejected.push_back(a + i);
    }
    if (ev == iotgw::UplinkEvent::kBackoff) backoff_status.push_back(b);
  }
};

// The gateway's image route: serves `image` from any offset (206) or from 0 (200 when `no_range`),
// `chunk` bytes per read, and can drop the connection after `drop_after` bytes of one response.
struct FakeImageSource final : iotgw::ImageSource {
  std::string image;
  int status = 0;            // 0: 200/206 as appropriate; else answer this status
  bool no_range = false;
  size_t chunk = 700;
  long drop_after = -1;      // per response; -1 = never
  int answer_none = 0;       // the next N opens get no answer
  std::vector<uint32_t> offsets;  // every open's offset
  bool open_now = false;
  size_t pos = 0;
  long served = 0;
  int open(const iotgw::Endpoint&, const char*, uint32_t offset) override {
    offsets.push_back(offset);
    if (answer_none > 0) {
      --answer_none;
      return -1;
    }
    if (status != 0) return status;
    open_now = true;
    served = 0;
    pos = no_range ? 0 : offset;
    return no_range || offset == 0 ? 200 : 206;
  }
  int read(uint8_t* buf, size_t cap) override {
    if (!open_now) return -1;
    if (drop_after >= 0 && served >= drop_after) {
      open_now = false;
      return -1;
    }
    if (pos >= image.size()) return -1;
    size_t n = std::min({cap, chunk, image.size() - pos});
    if (drop_after >= 0) n = std::min(n, static_cast<size_t>(drop_after - served));
    memcpy(buf, image.data() + pos, n);
    pos += n;
    served += static_cast<long>(n);
    return static_cast<int>(n);
  }
  void close() override { open_now = false; }
};

// The inactive OTA slot, in memory.
struct FakeFlash final : iotgw::FlashTarget {
  std::string data;
  uint32_t size = 0;
  bool room = true;
  bool open_now = false;
  int aborts = 0;
  std::vector<iotgw::FirmwareOffer> finished;
  bool begin(uint32_t n) override {
    data.clear();
    size = n;
    open_now = room;
    return room;
  }
  bool write(const uint8_t* p, size_t n) override {
    if (!open_now) return false;
    data.append(reinterpret_cast<const char*>(p), n);
    return true;
  }
  bool finish(const iotgw::FirmwareOffer& o) override {
    open_now = false;
    finished.push_back(o);
    return true;
  }
  void abort() override {
    ++aborts;
    open_now = false;
    data.clear();
  }
};

inline std::string sha256_hex_of(const std::string& data) {
  iotgw::Sha256 h;
  h.update(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  uint8_t d[32];
  h.finish(d);
  char out[65];
  iotgw::sha256_hex(d, out);
  return out;
}

// An image of `size` bytes (starting with the ESP32 magic byte) and its offer.
inline std::string image_bytes(size_t size, uint8_t salt = 1) {
  std::string img(size, '\0');
  for (size_t i = 0; i < size; ++i) img[i] = static_cast<char>((i * 7 + salt) & 0xFF);
  if (size > 0) img[0] = static_cast<char>(0xE9);
  return img;
}

inline iotgw::FirmwareOffer offer_for(const std::string& img, const char* version = "0.2.0") {
  iotgw::FirmwareOffer o{};
  iotgw::copy_str(o.version, sizeof o.version, version);
  iotgw::copy_str(o.sha256, sizeof o.sha256, sha256_hex_of(img).c_str());
  o.size = static_cast<uint32_t>(img.size());
  return o;
}

// Seqs of the readings in an HTTP or WS body.
inline std::vector<uint32_t> seqs(const nlohmann::json& body) {
  std::vector<uint32_t> out;
  for (const auto& r : body.at("readings")) out.push_back(r.at("seq").get<uint32_t>());
  return out;
}

}  // namespace fakes
