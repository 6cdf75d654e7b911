#include "sim_device.h"

#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <time.h>

#include <chrono>
#include <thread>

#include "http_client.h"
#include "net.h"

namespace sim {

SimDevice::SimDevice(const SimOptions& opt, int index, const uint8_t mac[6], uint32_t seed)
    : opt_(opt), index_(index), rng_(seed), image_(opt.key, opt.download_bps) {
  iotgw::device_id_from_mac(base_id_.device_id, sizeof base_id_.device_id, mac);
  image_.set_device_id(base_id_.device_id);
  if (!opt.group.empty()) {
    iotgw::sanitize_id(base_id_.group_id, sizeof base_id_.group_id, opt.group.c_str());
  } else {
    // The board uses its Wi-Fi router's IP; the simulator has no router, so it uses the gateway's.
    iotgw::group_from_ip(base_id_.group_id, sizeof base_id_.group_id, resolve_ipv4(opt.host));
  }
  iotgw::copy_str(base_id_.device_type, sizeof base_id_.device_type, "esp32-sim");
  iotgw::copy_str(base_id_.chip_model, sizeof base_id_.chip_model, "ESP32-D0WDQ6");

  cfg_.sample_period_ms = static_cast<uint32_t>(1000.0 / (opt.rate > 0 ? opt.rate : 1.0));
  if (cfg_.sample_period_ms == 0) cfg_.sample_period_ms = 1;
  cfg_.ring_limit = opt.ring;
  cfg_.uplink.max_batch = opt.batch;
  cfg_.uplink.max_in_flight = 4;
  cfg_.uplink.ack_timeout_ms = 10000;
  cfg_.uplink.backoff_base_ms = 200;
  cfg_.uplink.backoff_cap_ms = 5000;
  cfg_.uplink.use_ws = opt.transport == "ws";
  cfg_.locator = iotgw::LocatorConfig{"", 0, 3, 0};
  // As the board (main.cpp), but quicker to retry a dropped download: tests restart gateways.
  cfg_.update = iotgw::UpdateConfig{opt.max_image_bytes, opt.update_wait_ms, 200, 2000, opt.failed_wait_ms, 65536,
                                    opt.confirm_timeout_ms};
  memory_ = std::make_unique<iotgw::DeviceMemory<kSimRingCap>>();  // zeroed: as after a power-on
  slot_fw_[0] = opt.fw;
  boot(opt.fw, iotgw::BootFacts{}, iotgw::ResetReason::kPowerOn);
}

uint64_t SimDevice::now_ms() const { return (mono_ns() - start_ns_) / 1000000ull + 1; }

void SimDevice::add_totals() {
  if (!device_) return;
  const iotgw::UplinkStats& s = device_->uplink().stats();
  totals_.acked += s.acked;
  totals_.rejected += s.rejected;
  totals_.sent += s.sent;
  totals_.retried += s.retried;
  totals_.requests += s.requests;
  totals_.failures += s.failures;
  totals_.discoveries += s.discoveries;
  totals_.ws_opens += s.ws_opens;
  const iotgw::UpdateStats& u = device_->update().stats();
  update_totals_.offers += u.offers;
  update_totals_.ignored += u.ignored;
  update_totals_.downloads += u.downloads;
  update_totals_.resumes += u.resumes;
  update_totals_.failures += u.failures;
  update_totals_.bytes += u.bytes;
}

void SimDevice::boot(const std::string& fw, const iotgw::BootFacts& facts, iotgw::ResetReason reason) {
  add_totals();
  device_.reset();
  ws_.close();
  image_.close();
  last_downloads_ = 0;
  reset_reason_ = reason;
  iotgw::Identity id = base_id_;
  iotgw::copy_str(id.fw_version, sizeof id.fw_version, fw.c_str());
  iotgw::boot_id_from_random(id.boot_id, sizeof id.boot_id, rng_.next_u32(), rng_.next_u32());
  const iotgw::DevicePorts ports{this, &rng_, iotgw::UplinkPorts{this, this, this}, &image_, &flash_, this};
  device_ = std::make_unique<Dev>(cfg_, *memory_, id, ports);
  const iotgw::BootOutcome outcome = iotgw::decide_boot(facts);
  if (outcome.clear_record) has_record_ = false;
  device_->start(start_ns_ == 0 ? 0 : now_ms(), outcome);
  // A boot that continued the memory's session keeps its boot_id (a soft reset); list each once.
  const std::string boot_id = device_->identity().boot_id;
  if (boots_.empty() || boots_.back().boot_id != boot_id) boots_.push_back(SimBoot{boot_id, fw, 0, {}});
}

void SimDevice::note(const char* event, const std::string& version, const std::string& detail) {
  events_.push_back(SimUpdateEvent{now_ms(), event, version, detail});
  if (opt_.verbose) fprintf(stderr, "[%s] update %s %s %s\n", base_id_.device_id, event, version.c_str(), detail.c_str());
}

void SimDevice::act(iotgw::UpdateAction action) {
  switch (action) {
    case iotgw::UpdateAction::kRestart: {
      // FlashTarget::finish() staged the verified image and recorded the offer: switch slots.
      const iotgw::FirmwareOffer offer = flash_.staged_offer();
      note("verified", offer.version, offer.sha256);
      const int next = 1 - running_slot_;
      slot_fw_[next] = offer.version;
      cannot_report_ = flash_.staged().find(kCannotReportMarker) != std::string::npos;
      flash_.clear_staged();
      record_ = offer;
      has_record_ = true;
      running_slot_ = next;
      pending_verify_ = true;  // what ESP-IDF's bootloader does with a new image
      boot(offer.version, iotgw::BootFacts{true, record_, true, true, false}, iotgw::ResetReason::kSoftware);
      note("rebooted", offer.version, device_->identity().boot_id);
      break;
    }
    case iotgw::UpdateAction::kConfirm:
      pending_verify_ = false;
      has_record_ = false;
      note("confirmed", device_->identity().fw_version, device_->identity().boot_id);
      break;
    case iotgw::UpdateAction::kRollback: {
      // esp_ota_mark_app_invalid_rollback_and_reboot(): the bootloader goes back to the other slot.
      const std::string left = device_->identity().fw_version;
      running_slot_ = 1 - running_slot_;
      pending_verify_ = false;
      cannot_report_ = false;
      boot(slot_fw_[running_slot_], iotgw::BootFacts{has_record_, record_, false, false, true},
           iotgw::ResetReason::kSoftware);
      note("rolled_back", left, device_->identity().boot_id);
      break;
    }
    case iotgw::UpdateAction::kNone:
      break;
  }
}

void SimDevice::note_progress() {
  const iotgw::UpdateStats& u = device_->update().stats();
  if (u.downloads != last_downloads_) {
    last_downloads_ = u.downloads;
    const uint32_t from = device_->update().request_offset();
    note(from > 0 ? "download_resumed" : "download_started", device_->update().target().version,
         "offset " + std::to_string(from));
  }
  const iotgw::UpdateNews* news = device_->current_news();
  if (news != nullptr && news->state == iotgw::UpdateState::kFailed &&
      (events_.empty() || events_.back().event != "failed")) {
    note("failed", news->version, news->reason);
  }
}

void SimDevice::run() {
  start_ns_ = mono_ns();
  const uint64_t sample_until = static_cast<uint64_t>(opt_.duration_s * 1000.0);
  const uint64_t drain_until = sample_until + static_cast<uint64_t>(opt_.drain_s * 1000.0);
  for (;;) {
    const uint64_t now = now_ms();
    // A new image on trial keeps sampling after --duration: it confirms on an acked reading.
    const bool on_trial = device_->update().phase() == iotgw::UpdatePhase::kTrial;
    const bool sampling = now < sample_until || on_trial;
    if (now >= drain_until) break;
    if (!sampling && device_->uplink().idle() && !device_->update().busy()) break;
    const iotgw::UpdateAction action = device_->loop(now, sampling);
    note_progress();  // before act(): a reboot replaces the Device whose progress this is
    act(action);
    // Sleep until something can happen: a reply on the socket, or a few ms.
    if (ws_.is_open()) {
      pollfd p{ws_.fd(), POLLIN, 0};
      ::poll(&p, 1, 5);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(device_->update().phase() ==
                                                                    iotgw::UpdatePhase::kDownloading
                                                                ? 1
                                                                : 5));
    }
  }
  ws_.close();
  image_.close();
  add_totals();
  device_.reset();  // its stats are in the totals now; the memory stays for the report
}

void SimDevice::read(iotgw::Sample* s) {
  const uint64_t up = now_ms();
  timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  s->ts_ms = opt_.ts ? static_cast<int64_t>(wall.tv_sec) * 1000 + wall.tv_nsec / 1000000 : 0;
  s->uptime_ms = up;
  s->heap_total = 327680;
  s->heap_free = 200000 + rng_.next_u32() % 50000;
  s->psram_total = 0;
  s->psram_free = 0;
  s->cpu_freq_mhz = 240;
  s->cpu_temp_c = 40.0f + static_cast<float>(rng_.next_u32() % 100) / 10.0f;
  s->flash_size = 4194304;
  s->wifi_rssi = static_cast<int8_t>(-50 - static_cast<int32_t>(rng_.next_u32() % 30));
  s->chip_cores = 2;
  s->chip_revision = 3;
  s->reset_reason = reset_reason_;
  s->local_ip = 0x7F000001u;  // 127.0.0.1
  ++boots_.back().produced;
}

bool SimDevice::browse(iotgw::Endpoint* out) {
  // No multicast here: answer as the gateway's mDNS record would (TXT path, ws).
  iotgw::endpoint_init(*out, opt_.host.c_str(), opt_.port);
  iotgw::endpoint_apply_txt(*out, "path", "/telemetry");
  iotgw::endpoint_apply_txt(*out, "ws", "/ws");
  iotgw::endpoint_apply_txt(*out, "auth", opt_.key.empty() ? "0" : "1");
  return true;
}

iotgw::HttpResult SimDevice::post(const iotgw::Endpoint& ep, const char* body, size_t len, char* reply,
                                  size_t reply_cap) {
  if (cannot_report_) return iotgw::HttpResult{-1, 0, 0};
  const HttpResponse r = http_post(ep.host, ep.port, ep.path, body, len, opt_.key, 5000);
  if (opt_.verbose && (r.status < 200 || r.status >= 300)) {
    fprintf(stderr, "[%s] POST -> %d %s\n", base_id_.device_id, r.status, r.body.substr(0, 200).c_str());
  }
  return iotgw::HttpResult{r.status, r.retry_after_s, r.body.copy(reply, reply_cap)};
}

int SimDevice::open(const iotgw::Endpoint& ep) {
  if (cannot_report_) return -1;
  return ws_.open(ep.host, ep.port, ep.ws_path, opt_.key, 5000);
}

void SimDevice::on_acked(const iotgw::Identity& id, uint32_t first, uint32_t last, uint32_t count) {
  if (count != last - first + 1) {
    fprintf(stderr, "[%s] acked range %u..%u holds %u readings (not contiguous)\n", id.device_id, first, last, count);
  }
  SimBoot* b = nullptr;
  for (auto it = boots_.rbegin(); it != boots_.rend() && b == nullptr; ++it) {
    if (it->boot_id == id.boot_id) b = &*it;
  }
  if (b == nullptr) {  // a session from before this process (cannot happen: memory starts zeroed)
    boots_.push_back(SimBoot{id.boot_id, id.fw_version, 0, {}});
    b = &boots_.back();
  }
  if (!b->acked.empty() && b->acked.back().second + 1 == first) {
    b->acked.back().second = last;
  } else {
    b->acked.emplace_back(first, last);
  }
}

void SimDevice::on_event(iotgw::UplinkEvent ev, uint32_t a, uint32_t b) {
  if (!opt_.verbose) return;
  static const char* names[] = {"gateway-found", "no-gateway", "ws-opened", "ws-closed", "rejected", "backoff"};
  fprintf(stderr, "[%s] %s %u %d\n", base_id_.device_id, names[static_cast<int>(ev)], a, static_cast<int>(b));
}

void SimDevice::on_offer(const iotgw::FirmwareOffer& offer) {
  // The gateway repeats its offer in every ack; the report lists each distinct one once.
  const std::string key = std::string(offer.version) + "/" + offer.sha256;
  if (key == last_offer_) return;
  last_offer_ = key;
  note("offered", offer.version, offer.sha256);
}

}  // namespace sim
