#include "backoff.h"

namespace iotgw {

Backoff::Backoff(uint32_t base_ms, uint32_t cap_ms)
    : base_ms_(base_ms > 0 ? base_ms : 1), cap_ms_(cap_ms >= base_ms_ ? cap_ms : base_ms_) {}

uint32_t Backoff::ceiling_ms() const {
  uint64_t c = base_ms_;
  // Stop doubling at the cap; the shift count is bounded so it cannot overflow.
  for (uint32_t i = 0; i < attempts_ && c < cap_ms_; ++i) c <<= 1;
  return c < cap_ms_ ? static_cast<uint32_t>(c) : cap_ms_;
}

uint32_t Backoff::next_delay_ms(Rng& rng) {
  const uint64_t span = static_cast<uint64_t>(ceiling_ms()) + 1;
  // Multiply-shift maps 32 random bits onto [0, span) without modulo bias worth noticing.
  const uint32_t delay = static_cast<uint32_t>((static_cast<uint64_t>(rng.next_u32()) * span) >> 32);
  if (attempts_ < 0xFFFFFFFFu) ++attempts_;
  return delay;
}

}  // namespace iotgw
