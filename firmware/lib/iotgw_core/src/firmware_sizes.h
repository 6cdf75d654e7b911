// Compile-time storage of the ESP32 build. 64 readings x ~120 B = ~8 KB of RAM for the ring:
// at the default 10 s period that is ~10 minutes of gateway outage without loss.
// Override with -D IOTGW_RING_CAP=... in site.ini's build flags.
#pragma once

#include <stddef.h>

#ifndef IOTGW_RING_CAP
#define IOTGW_RING_CAP 64
#endif
#ifndef IOTGW_SCRATCH_CAP
#define IOTGW_SCRATCH_CAP 4096
#endif

namespace iotgw {
constexpr size_t kFirmwareRingCap = IOTGW_RING_CAP;
constexpr size_t kFirmwareScratchCap = IOTGW_SCRATCH_CAP;
}  // namespace iotgw
