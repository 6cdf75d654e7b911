// The gateway's answer to "which firmware should this board run" (docs/firmware-updates.md, 2):
// {"version": "0.2.0", "sha256": "<64 hex>", "size": 1048576}, in a 202 body or a WebSocket ack.
#pragma once

#include <stdint.h>

#include "telemetry.h"

namespace iotgw {

struct FirmwareOffer {
  char version[kVersionMax + 1];
  char sha256[65];  // lowercase hex, as the image's URL names it
  uint32_t size;
};

// A usable offer: a valid version, 64 hex digits and 1..max_size bytes (the OTA slot's size).
bool offer_valid(const FirmwareOffer& o, uint32_t max_size);

}  // namespace iotgw
