// Instantiates the device at the size the ESP32 build uses, so the cross-compile check
// (scripts/firmware-cross-size.sh) proves that exact configuration is heap-free.
#include "device.h"

#include "firmware_sizes.h"

namespace iotgw {
template class Device<kFirmwareRingCap, kFirmwareScratchCap>;
}  // namespace iotgw
