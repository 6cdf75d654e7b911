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

namespace {
uint64_t mono_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}
}  // namespace

SimDevice::SimDevice(const SimOptions& opt, int index, const uint8_t mac[6], uint32_t seed)
    : opt_(opt), index_(index), rng_(seed) {
  iotgw::device_id_from_mac(id_.device_id, sizeof id_.device_id, mac);
  if (!opt.group.empty()) {
    iotgw::sanitize_id(id_.group_id, sizeof id_.group_id, opt.group.c_str());
  } else {
    // The board uses its Wi-Fi router's IP; the simulator has no router, so it uses the gateway's.
    iotgw::group_from_ip(id_.group_id, sizeof id_.group_id, resolve_ipv4(opt.host));
  }
  iotgw::copy_str(id_.device_type, sizeof id_.device_type, "esp32-sim");
  iotgw::copy_str(id_.chip_model, sizeof id_.chip_model, "ESP32-D0WDQ6");
  iotgw::boot_id_from_random(id_.boot_id, sizeof id_.boot_id, rng_.next_u32(), rng_.next_u32());

  iotgw::DeviceConfig cfg{};
  cfg.sample_period_ms = static_cast<uint32_t>(1000.0 / (opt.rate > 0 ? opt.rate : 1.0));
  if (cfg.sample_period_ms == 0) cfg.sample_period_ms = 1;
  cfg.ring_limit = opt.ring;
  cfg.uplink.max_batch = opt.batch;
  cfg.uplink.max_in_flight = 4;
  cfg.uplink.ack_timeout_ms = 10000;
  cfg.uplink.backoff_base_ms = 200;
  cfg.uplink.backoff_cap_ms = 5000;
  cfg.uplink.use_ws = opt.transport == "ws";
  cfg.locator = iotgw::LocatorConfig{"", 0, 3, 0};
  memory_ = std::make_unique<iotgw::DeviceMemory<kSimRingCap>>();
  const iotgw::DevicePorts ports{this, &rng_, iotgw::UplinkPorts{this, this, this}, nullptr, nullptr, this};
  device_ = std::make_unique<iotgw::Device<kSimRingCap, kSimScratchCap>>(cfg, *memory_, id_, ports);
  device_->start(0, iotgw::BootOutcome{});
}

uint64_t SimDevice::now_ms() const { return (mono_ns() - start_ns_) / 1000000ull + 1; }

void SimDevice::run() {
  start_ns_ = mono_ns();
  const uint64_t sample_until = static_cast<uint64_t>(opt_.duration_s * 1000.0);
  const uint64_t drain_until = sample_until + static_cast<uint64_t>(opt_.drain_s * 1000.0);
  for (;;) {
    const uint64_t now = now_ms();
    const bool sampling = now < sample_until;
    if (!sampling && (device_->uplink().idle() || now >= drain_until)) break;
    device_->loop(now, sampling);
    // Sleep until something can happen: a reply on the socket, or a few ms.
    if (ws_.is_open()) {
      pollfd p{ws_.fd(), POLLIN, 0};
      ::poll(&p, 1, 5);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ws_.close();
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
  s->reset_reason = iotgw::ResetReason::kPowerOn;
  s->local_ip = 0x7F000001u;  // 127.0.0.1
  ++produced_;
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
  const HttpResponse r = http_post(ep.host, ep.port, ep.path, body, len, opt_.key, 5000);
  if (opt_.verbose && (r.status < 200 || r.status >= 300)) {
    fprintf(stderr, "[%s] POST -> %d %s\n", id_.device_id, r.status, r.body.substr(0, 200).c_str());
  }
  return iotgw::HttpResult{r.status, r.retry_after_s, r.body.copy(reply, reply_cap)};
}

int SimDevice::open(const iotgw::Endpoint& ep) { return ws_.open(ep.host, ep.port, ep.ws_path, opt_.key, 5000); }

void SimDevice::on_acked(const iotgw::Identity&, uint32_t first, uint32_t last, uint32_t count) {
  if (count != last - first + 1) {
    fprintf(stderr, "[%s] acked range %u..%u holds %u readings (not contiguous)\n", id_.device_id, first, last, count);
  }
  if (!acked_.empty() && acked_.back().second + 1 == first) {
    acked_.back().second = last;
  } else {
    acked_.emplace_back(first, last);
  }
}

void SimDevice::on_event(iotgw::UplinkEvent ev, uint32_t a, uint32_t b) {
  if (!opt_.verbose) return;
  static const char* names[] = {"gateway-found", "no-gateway", "ws-opened", "ws-closed", "rejected", "backoff"};
  fprintf(stderr, "[%s] %s %u %d\n", id_.device_id, names[static_cast<int>(ev)], a, static_cast<int>(b));
}

}  // namespace sim
