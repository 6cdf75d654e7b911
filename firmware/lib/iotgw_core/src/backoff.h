// Exponential backoff with full jitter and a cap.
//
// Why full jitter: after a gateway restart every board on the site retries at once; drawing the
// delay uniformly from [0, min(cap, base * 2^attempt)] spreads them out (AWS architecture blog,
// "Exponential Backoff And Jitter"). The RNG is injected so tests can pin the extremes and the
// board can use its hardware RNG.
#pragma once

#include <stdint.h>

namespace iotgw {

class Rng {
 public:
  virtual uint32_t next_u32() = 0;

 protected:
  ~Rng() = default;
};

// Small deterministic generator for the simulator and tests (Marsaglia xorshift32).
class XorShift32 final : public Rng {
 public:
  explicit XorShift32(uint32_t seed) : state_(seed != 0 ? seed : 0x9E3779B9u) {}
  uint32_t next_u32() override {
    uint32_t x = state_;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    state_ = x;
    return x;
  }

 private:
  uint32_t state_;
};

class Backoff {
 public:
  Backoff(uint32_t base_ms, uint32_t cap_ms);

  // Upper bound of the next delay: min(cap, base * 2^attempts).
  uint32_t ceiling_ms() const;
  // Draws the next delay in [0, ceiling_ms()] and counts the attempt.
  uint32_t next_delay_ms(Rng& rng);
  // After a success: the next failure starts from `base` again.
  void reset() { attempts_ = 0; }
  uint32_t attempts() const { return attempts_; }

 private:
  uint32_t base_ms_;
  uint32_t cap_ms_;
  uint32_t attempts_ = 0;
};

}  // namespace iotgw
