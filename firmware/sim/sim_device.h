// One simulated board: the firmware's Device loop from the portable core, with POSIX sockets
// where the ESP32 has HTTPClient/WebSockets, and a made-up but plausible set of sensor values.
#pragma once

#include <stdint.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "device.h"
#include "iotgw_core.h"
#include "ws_client.h"

namespace sim {

struct SimOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 3000;
  int devices = 1;
  double rate = 1.0;          // readings per second per device
  double duration_s = 10.0;   // sampling time
  double drain_s = 30.0;      // after sampling: time allowed to empty the rings
  std::string transport = "http";
  size_t ring = 256;
  std::string group;          // default: net-<gateway IPv4 with dashes>
  std::string key;            // device key (Authorization: Bearer)
  uint16_t batch = 20;
  bool ts = true;             // send ts (the sim's clock counts as SNTP-synced)
  bool verbose = false;
};

// Compile-time storage of a simulated device; --ring picks the usable part.
constexpr size_t kSimRingCap = 8192;
constexpr size_t kSimScratchCap = 16384;

class SimDevice final : public iotgw::SensorPort,
                        public iotgw::DiscoveryPort,
                        public iotgw::HttpPort,
                        public iotgw::WsPort,
                        public iotgw::UplinkObserver {
 public:
  SimDevice(const SimOptions& opt, int index, const uint8_t mac[6], uint32_t seed);

  // Runs sampling for duration_s, then drains until idle or drain_s passes.
  void run();

  const iotgw::Device<kSimRingCap, kSimScratchCap>& device() const { return *device_; }
  uint32_t produced() const { return produced_; }
  const std::vector<std::pair<uint32_t, uint32_t>>& acked_ranges() const { return acked_; }

  // Ports.
  void read(iotgw::Sample* out) override;
  bool browse(iotgw::Endpoint* out) override;
  iotgw::HttpResult post(const iotgw::Endpoint& ep, const char* body, size_t len, char* reply,
                         size_t reply_cap) override;
  int open(const iotgw::Endpoint& ep) override;
  bool is_open() override { return ws_.is_open(); }
  bool send_text(const char* text, size_t len) override { return ws_.send_text(text, len); }
  int poll(char* buf, size_t cap) override { return ws_.poll(buf, cap, 0); }
  void close() override { ws_.close(); }
  void on_acked(const iotgw::Identity& id, uint32_t first, uint32_t last, uint32_t count) override;
  void on_event(iotgw::UplinkEvent ev, uint32_t a, uint32_t b) override;

 private:
  uint64_t now_ms() const;

  SimOptions opt_;
  int index_;
  iotgw::Identity id_{};
  iotgw::XorShift32 rng_;
  WsClient ws_;
  // What the board keeps across resets (RTC memory); the simulated reboots keep it too.
  std::unique_ptr<iotgw::DeviceMemory<kSimRingCap>> memory_;
  std::unique_ptr<iotgw::Device<kSimRingCap, kSimScratchCap>> device_;
  uint32_t produced_ = 0;
  std::vector<std::pair<uint32_t, uint32_t>> acked_;
  uint64_t start_ns_ = 0;
};

}  // namespace sim
