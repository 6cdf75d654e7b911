// What a board keeps across a reset: the ring of unsent readings, the sessions they were taken
// under, the next seq, and the update news they carry. On the ESP32 it lives in RTC memory
// (RTC_NOINIT_ATTR: kept through a software reset, a watchdog or panic reset and a deep-sleep
// wake, garbage after a power-on); the simulator keeps it across its simulated reboots.
//
// Sealed with a layout check and a CRC-32: a block that was never written, was written by a
// firmware with another layout, or was cut by a reset in the middle of an update is not
// trusted, and the board starts afresh (new boot_id, seq 0, empty ring).
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "telemetry.h"

namespace iotgw {

constexpr uint32_t kMemoryMagic = 0x31574749u;  // "IGW1"
// Bump when anything below, Identity, Sample or UpdateNews changes shape.
constexpr uint16_t kMemoryLayout = 1;
constexpr size_t kNewsSlots = 4;
constexpr size_t kSessionSlots = 2;

struct MemoryHeader {
  uint32_t magic;
  uint16_t layout;
  uint16_t ring_cap;
  uint32_t size;  // sizeof the whole block
  uint32_t crc;   // CRC-32 of everything after the header
};

template <size_t RingCap>
struct DeviceMemory {
  MemoryHeader header;
  // Readings of at most two sessions can be in the ring: the current one, and the one before an
  // OTA switch or a rollback whose readings were not all sent yet.
  Identity sessions[kSessionSlots];
  uint32_t generation[kSessionSlots];  // orders the sessions; 0 = slot unused
  uint32_t next_seq;                   // of the current session
  uint8_t current;                     // session slot of new readings
  uint8_t current_news;                // 0, or 1 + the news slot new readings carry
  uint8_t reserved[2];
  UpdateNews news[kNewsSlots];
  uint32_t ring_head;
  uint32_t ring_count;
  uint32_t ring_dropped;
  Sample ring[RingCap];
};

// CRC-32 (IEEE 802.3, reflected, as zlib's crc32()).
uint32_t crc32(const void* data, size_t len);

template <size_t RingCap>
uint32_t memory_crc(const DeviceMemory<RingCap>& m) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&m) + sizeof(MemoryHeader);
  return crc32(p, sizeof m - sizeof(MemoryHeader));
}

template <size_t RingCap>
bool memory_valid(const DeviceMemory<RingCap>& m) {
  return m.header.magic == kMemoryMagic && m.header.layout == kMemoryLayout && m.header.ring_cap == RingCap &&
         m.header.size == sizeof m && m.header.crc == memory_crc(m) && m.current < kSessionSlots &&
         m.current_news <= kNewsSlots && m.ring_head < RingCap && m.ring_count <= RingCap;
}

template <size_t RingCap>
void memory_seal(DeviceMemory<RingCap>& m) {
  m.header.magic = kMemoryMagic;
  m.header.layout = kMemoryLayout;
  m.header.ring_cap = static_cast<uint16_t>(RingCap);
  m.header.size = sizeof m;
  m.header.crc = memory_crc(m);
}

// True when `a` and `b` describe the same session but for boot_id: a boot that finds the same
// device, group, type and firmware continues the session (and its boot_id and seq).
bool same_session(const Identity& a, const Identity& b);

}  // namespace iotgw
