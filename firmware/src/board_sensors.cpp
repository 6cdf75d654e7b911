#include "board_sensors.h"

#include <Arduino.h>
#include <WiFi.h>
#include <esp_system.h>
#include <esp_timer.h>
#include <sys/time.h>

namespace {

// Epoch ms once SNTP has set the clock (anything before 2023 means "not synced"), else 0.
int64_t wall_clock_ms() {
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  if (tv.tv_sec < 1672531200) return 0;
  return static_cast<int64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
}

}  // namespace

iotgw::ResetReason board_reset_reason() {
  switch (esp_reset_reason()) {
    case ESP_RST_POWERON: return iotgw::ResetReason::kPowerOn;
    case ESP_RST_EXT: return iotgw::ResetReason::kExternal;
    case ESP_RST_SW: return iotgw::ResetReason::kSoftware;
    case ESP_RST_PANIC: return iotgw::ResetReason::kPanic;
    case ESP_RST_INT_WDT: return iotgw::ResetReason::kIntWdt;
    case ESP_RST_TASK_WDT: return iotgw::ResetReason::kTaskWdt;
    case ESP_RST_WDT: return iotgw::ResetReason::kWdt;
    case ESP_RST_DEEPSLEEP: return iotgw::ResetReason::kDeepSleep;
    case ESP_RST_BROWNOUT: return iotgw::ResetReason::kBrownout;
    case ESP_RST_SDIO: return iotgw::ResetReason::kSdio;
    default: return iotgw::ResetReason::kUnknown;
  }
}

void BoardSensors::read(iotgw::Sample* s) {
  s->ts_ms = wall_clock_ms();
  s->uptime_ms = static_cast<uint64_t>(esp_timer_get_time() / 1000);  // millis() wraps at 49 days
  s->heap_free = ESP.getFreeHeap();
  s->heap_total = ESP.getHeapSize();
  s->psram_free = ESP.getFreePsram();
  s->psram_total = ESP.getPsramSize();
  s->cpu_freq_mhz = static_cast<uint16_t>(ESP.getCpuFreqMHz());
  s->cpu_temp_c = temp_filter_.filter(temperatureRead());  // rough, as in the original sketch; null without a sensor
  s->flash_size = ESP.getFlashChipSize();
  const int32_t rssi = WiFi.isConnected() ? WiFi.RSSI() : 0;
  s->wifi_rssi = static_cast<int8_t>(rssi < -128 ? -128 : rssi > 0 ? 0 : rssi);
  s->chip_cores = ESP.getChipCores();
  s->chip_revision = ESP.getChipRevision();
  s->reset_reason = board_reset_reason();
  const IPAddress ip = WiFi.localIP();
  s->local_ip = (uint32_t(ip[0]) << 24) | (uint32_t(ip[1]) << 16) | (uint32_t(ip[2]) << 8) | ip[3];
}
