// What one reading is made of.
//
// `Identity` is fixed for a boot and shared by every reading; `Sample` is one snapshot of the
// board, small and trivially copyable so the ring buffer can hold many of them in plain RAM.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace iotgw {

// Gateway rule for device_id / group_id: 1-64 chars of [A-Za-z0-9._:-].
constexpr size_t kIdMax = 64;

struct Identity {
  char device_id[kIdMax + 1];
  char group_id[kIdMax + 1];
  char device_type[33];
  // Random per boot; with `seq` it lets the gateway store a retried reading once.
  char boot_id[17];
};

struct Sample {
  uint32_t seq;          // per-boot counter, starts at 0
  int64_t ts_ms;         // device wall clock, epoch ms; 0 = not synced (field omitted)
  uint64_t uptime_ms;
  uint32_t loop_count;
  uint32_t heap_free;
  uint32_t heap_total;
  uint32_t psram_free;
  uint32_t psram_total;
  uint32_t cpu_freq_mhz;
  float cpu_temp_c;      // NaN when the sensor is unavailable -> null
  uint32_t flash_size;
  int32_t wifi_rssi;
  uint8_t chip_cores;
  uint8_t chip_revision;
  char reset_reason[20];
  char chip_model[20];
  char local_ip[16];
};

}  // namespace iotgw
