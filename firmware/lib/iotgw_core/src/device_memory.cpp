#include "device_memory.h"

namespace iotgw {

uint32_t crc32(const void* data, size_t len) {
  // Bitwise: no 1 KB table in RAM; ~5 KB per change of the ring is cheap at the board's pace.
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; ++i) {
    crc ^= p[i];
    for (int b = 0; b < 8; ++b) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

bool same_session(const Identity& a, const Identity& b) {
  return strcmp(a.device_id, b.device_id) == 0 && strcmp(a.group_id, b.group_id) == 0 &&
         strcmp(a.device_type, b.device_type) == 0 && strcmp(a.fw_version, b.fw_version) == 0 &&
         strcmp(a.chip_model, b.chip_model) == 0;
}

}  // namespace iotgw
