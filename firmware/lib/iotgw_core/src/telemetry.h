// What one reading is made of.
//
// `Identity` is fixed for a session (one boot_id) and shared by its readings; `Sample` is one
// snapshot of the board. A Sample is 64 bytes and trivially copyable: 64 of them fit the ESP32's
// RTC memory beside the rest of DeviceMemory, which is how unsent readings survive a reset. So
// anything constant for a chip or a session lives in Identity, the IP address is a number, and
// the reset reason an enum; the payload writes them out as the original sketch's text fields.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace iotgw {

// Gateway rule for device_id / group_id: 1-64 chars of [A-Za-z0-9._:-].
constexpr size_t kIdMax = 64;
// Firmware versions are semantic versions of at most 31 characters (esp_app_desc_t.version).
constexpr size_t kVersionMax = 31;

struct Identity {
  char device_id[kIdMax + 1];
  char group_id[kIdMax + 1];
  char device_type[33];
  // Random per session; with `seq` it lets the gateway store a retried reading once.
  char boot_id[17];
  char fw_version[kVersionMax + 1];  // the image that took the readings ("fw"); "" = not sent
  char chip_model[20];
};

// esp_reset_reason() as the original sketch named it (reset_reason_name()).
enum class ResetReason : uint8_t {
  kUnknown,
  kPowerOn,
  kExternal,
  kSoftware,
  kPanic,
  kIntWdt,
  kTaskWdt,
  kWdt,
  kDeepSleep,
  kBrownout,
  kSdio,
};
const char* reset_reason_name(ResetReason r);

struct Sample {
  int64_t ts_ms;          // device wall clock, epoch ms; 0 = not synced (field omitted)
  uint64_t uptime_ms;
  uint32_t seq;           // per-session counter, starts at 0
  uint32_t loop_count;
  uint32_t heap_free;
  uint32_t heap_total;
  uint32_t psram_free;
  uint32_t psram_total;
  uint32_t flash_size;
  uint32_t local_ip;      // IPv4, host order; 0 = none
  float cpu_temp_c;       // NaN when the sensor is unavailable -> null
  uint16_t cpu_freq_mhz;
  int8_t wifi_rssi;       // dBm; 0 when not connected
  uint8_t chip_cores;
  uint8_t chip_revision;
  ResetReason reset_reason;
  uint8_t session;        // which session (Identity) it was taken under; set by the Device
  uint8_t news;           // 0, or 1 + the update-news slot it carries; set by the Device
};
static_assert(sizeof(Sample) == 64, "a Sample is 64 bytes: the RTC memory budget counts on it");

// `fw_update` of the OTA protocol (docs/firmware-updates.md): news a board repeats in its readings
// until one reading carrying it was acknowledged.
enum class UpdateState : uint8_t { kNone, kDownloading, kFailed, kUpdated, kRolledBack };
const char* update_state_name(UpdateState s);

struct UpdateNews {
  UpdateState state;
  char version[kVersionMax + 1];  // the version the news is about
  char reason[40];                // short text, "" = none
};

}  // namespace iotgw
