// One simulated board: the firmware's Device loop from the portable core, with POSIX sockets
// where the ESP32 has HTTPClient/WebSockets, memory where it has flash and RTC memory, and a
// made-up but plausible set of sensor values.
//
// It updates as a board does (docs/firmware-updates.md): the core's UpdateClient downloads and
// verifies the offered image; the simulated board then "reboots" into it (a new Device over the
// same DeviceMemory: a new session with a new boot_id, the unsent readings of the old one still
// sent under the old boot_id), confirms it after its first acknowledged reading, or rolls back
// when none came within --confirm-timeout-ms. An image that contains kCannotReportMarker boots a
// version that cannot reach the gateway (every request fails), which therefore rolls back.
#pragma once

#include <stdint.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "device.h"
#include "image_fetch.h"
#include "iotgw_core.h"
#include "ws_client.h"

namespace sim {

constexpr char kCannotReportMarker[] = "IOTGW-SIM:CANNOT-REPORT";

struct SimOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 3000;
  int devices = 1;
  double rate = 1.0;          // readings per second per device
  double duration_s = 10.0;   // sampling time
  double drain_s = 30.0;      // after sampling: time allowed to empty the rings and finish updates
  std::string transport = "http";
  size_t ring = 256;
  std::string group;          // default: net-<gateway IPv4 with dashes>
  std::string key;            // device key (Authorization: Bearer)
  uint16_t batch = 20;
  bool ts = true;             // send ts (the sim's clock counts as SNTP-synced)
  bool verbose = false;
  std::string fw = "0.1.0";   // the version it starts with
  uint32_t confirm_timeout_ms = 600000;
  uint32_t download_bps = 0;  // 0: as fast as the gateway sends
  uint32_t update_wait_ms = 600000;
  uint32_t max_image_bytes = 0x1E0000;  // the board's OTA slot (min_spiffs.csv)
  uint32_t failed_wait_ms = 30UL * 60UL * 1000UL;  // a failed image is not taken again for this long
};

// Compile-time storage of a simulated device; --ring picks the usable part.
constexpr size_t kSimRingCap = 8192;
constexpr size_t kSimScratchCap = 16384;

// One boot of the simulated board and what the gateway acknowledged of it.
struct SimBoot {
  std::string boot_id;
  std::string fw;
  uint32_t produced = 0;
  std::vector<std::pair<uint32_t, uint32_t>> acked;  // seq ranges
};

// Something that happened to an update, for the final report.
struct SimUpdateEvent {
  uint64_t t_ms;
  std::string event;  // offered, download_started, download_resumed, failed, verified, rebooted, confirmed, rolled_back
  std::string version;
  std::string detail;
};

class SimDevice final : public iotgw::SensorPort,
                        public iotgw::DiscoveryPort,
                        public iotgw::HttpPort,
                        public iotgw::WsPort,
                        public iotgw::UplinkObserver {
 public:
  using Dev = iotgw::Device<kSimRingCap, kSimScratchCap>;

  SimDevice(const SimOptions& opt, int index, const uint8_t mac[6], uint32_t seed);

  // Runs sampling for duration_s, then drains until the ring is empty and no update is under
  // way, or drain_s passes.
  void run();

  const char* device_id() const { return base_id_.device_id; }
  const char* group_id() const { return base_id_.group_id; }
  // Readings left unsent, and dropped for room, over all boots (what the memory says).
  struct RingState {
    uint32_t pending;
    uint32_t dropped;
  };
  RingState ring() const { return RingState{memory_->ring_count, memory_->ring_dropped}; }
  const std::vector<SimBoot>& boots() const { return boots_; }
  const std::vector<SimUpdateEvent>& events() const { return events_; }
  // Sums over every boot of this board.
  const iotgw::UplinkStats& uplink_totals() const { return totals_; }
  const iotgw::UpdateStats& update_totals() const { return update_totals_; }

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
  void on_offer(const iotgw::FirmwareOffer& offer) override;

 private:
  uint64_t now_ms() const;
  // Boots a new Device over the same memory, running `fw`, with what decide_boot() makes of `facts`.
  void boot(const std::string& fw, const iotgw::BootFacts& facts, iotgw::ResetReason reason);
  void act(iotgw::UpdateAction action);
  void note(const char* event, const std::string& version, const std::string& detail);
  // Download requests and failures the current Device's update client reported since last time.
  void note_progress();
  void add_totals();

  SimOptions opt_;
  int index_;
  iotgw::Identity base_id_{};
  iotgw::XorShift32 rng_;
  iotgw::DeviceConfig cfg_{};
  WsClient ws_;
  HttpImageSource image_;
  MemoryFlash flash_;
  // What the board keeps across resets (RTC memory); the simulated reboots keep it too.
  std::unique_ptr<iotgw::DeviceMemory<kSimRingCap>> memory_;
  std::unique_ptr<Dev> device_;
  std::vector<SimBoot> boots_;
  std::vector<SimUpdateEvent> events_;
  iotgw::UplinkStats totals_ = {};
  iotgw::UpdateStats update_totals_ = {};
  // The simulated flash: two app slots, the one running, and the record of a switch.
  std::string slot_fw_[2];
  int running_slot_ = 0;
  bool pending_verify_ = false;
  bool cannot_report_ = false;
  bool has_record_ = false;
  iotgw::FirmwareOffer record_ = {};
  std::string last_offer_;
  uint32_t last_downloads_ = 0;
  iotgw::ResetReason reset_reason_ = iotgw::ResetReason::kPowerOn;
  uint64_t start_ns_ = 0;
};

}  // namespace sim
