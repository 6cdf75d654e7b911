// Scripted stand-ins for the core's I/O ports, and helpers to make readings.
#pragma once

#include <doctest.h>
#include <nlohmann/json.hpp>

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
  iotgw::copy_str(s.reset_reason, sizeof s.reset_reason, "POWERON");
  iotgw::copy_str(s.chip_model, sizeof s.chip_model, "ESP32-D0WDQ6");
  iotgw::copy_str(s.local_ip, sizeof s.local_ip, "192.168.1.50");
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
    return iotgw::HttpResult{202, 0};
  };
  std::vector<nlohmann::json> bodies;
  std::vector<std::string> hosts;
  iotgw::HttpResult post(const iotgw::Endpoint& ep, const char* body, size_t len) override {
    nlohmann::json j = nlohmann::json::parse(std::string(body, len));  // throws on invalid JSON
    bodies.push_back(j);
    hosts.push_back(ep.host);
    return respond(j);
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
  std::vector<uint32_t> rejected;
  std::vector<uint32_t> backoff_status;  // the status of each kBackoff event
  void on_acked(uint32_t first, uint32_t last, uint32_t count) override {
    CHECK(count == last - first + 1);
    for (uint32_t s = first; s <= last; ++s) acked.push_back(s);
  }
  void on_event(iotgw::UplinkEvent ev, uint32_t a, uint32_t b) override {
    if (ev == iotgw::UplinkEvent::kRejected) {
      for (uint32_t i = 0; i < b; ++i) rejected.push_back(a + i);
    }
    if (ev == iotgw::UplinkEvent::kBackoff) backoff_status.push_back(b);
  }
};

// Seqs of the readings in an HTTP or WS body.
inline std::vector<uint32_t> seqs(const nlohmann::json& body) {
  std::vector<uint32_t> out;
  for (const auto& r : body.at("readings")) out.push_back(r.at("seq").get<uint32_t>());
  return out;
}

}  // namespace fakes
