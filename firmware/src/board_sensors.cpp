#include "board_sensors.h"

#include <Arduino.h>
#include <WiFi.h>
#include <esp_system.h>
#include <esp_timer.h>
#include <sys/time.h>

#include "identity.h"
#include "num_format.h"

namespace {

// "a.b.c.d" without IPAddress::toString() (which returns a heap String).
void format_ip(char* out, size_t cap, const IPAddress& ip) {
  size_t len = 0;
  for (int i = 0; i < 4 && len + 4 < cap; ++i) {
    if (i > 0) out[len++] = '.';
    len += iotgw::format_uint(out + len, cap - len - 1, ip[i]);
  }
  out[len] = '\0';
}

// Epoch ms once SNTP has set the clock (anything before 2023 means "not synced"), else 0.
int64_t wall_clock_ms() {
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  if (tv.tv_sec < 1672531200) return 0;
  return static_cast<int64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
}

}  // namespace

const char* reset_reason_name() {
  switch (esp_reset_reason()) {
    case ESP_RST_POWERON: return "POWERON";
    case ESP_RST_EXT: return "EXTERNAL";
    case ESP_RST_SW: return "SOFTWARE";
    case ESP_RST_PANIC: return "PANIC";
    case ESP_RST_INT_WDT: return "INT_WDT";
    case ESP_RST_TASK_WDT: return "TASK_WDT";
    case ESP_RST_WDT: return "WDT";
    case ESP_RST_DEEPSLEEP: return "DEEPSLEEP";
    case ESP_RST_BROWNOUT: return "BROWNOUT";
    case ESP_RST_SDIO: return "SDIO";
    default: return "UNKNOWN";
  }
}

void BoardSensors::read(iotgw::Sample* s) {
  s->ts_ms = wall_clock_ms();
  s->uptime_ms = static_cast<uint64_t>(esp_timer_get_time() / 1000);  // millis() wraps at 49 days
  s->heap_free = ESP.getFreeHeap();
  s->heap_total = ESP.getHeapSize();
  s->psram_free = ESP.getFreePsram();
  s->psram_total = ESP.getPsramSize();
  s->cpu_freq_mhz = ESP.getCpuFreqMHz();
  s->cpu_temp_c = temp_filter_.filter(temperatureRead());  // rough, as in the original sketch; null without a sensor
  s->flash_size = ESP.getFlashChipSize();
  s->wifi_rssi = WiFi.isConnected() ? WiFi.RSSI() : 0;
  s->chip_cores = ESP.getChipCores();
  s->chip_revision = ESP.getChipRevision();
  iotgw::copy_str(s->reset_reason, sizeof s->reset_reason, reset_reason_name());
  iotgw::copy_str(s->chip_model, sizeof s->chip_model, ESP.getChipModel());
  format_ip(s->local_ip, sizeof s->local_ip, WiFi.localIP());
}
