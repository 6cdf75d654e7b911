// Backoff: full jitter inside [0, min(cap, base * 2^n)].
#include <doctest.h>

#include "backoff.h"

namespace {
struct FixedRng final : iotgw::Rng {
  uint32_t v;
  explicit FixedRng(uint32_t x) : v(x) {}
  uint32_t next_u32() override { return v; }
};
}  // namespace

TEST_CASE("the ceiling doubles from base up to the cap and stays there") {
  iotgw::Backoff b(100, 1000);
  FixedRng rng(0);
  const uint32_t expected[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (uint32_t e : expected) {
    CHECK(b.ceiling_ms() == e);
    b.next_delay_ms(rng);
  }
}

TEST_CASE("every delay lies within [0, ceiling]") {
  iotgw::Backoff b(250, 30000);
  iotgw::XorShift32 rng(12345);
  uint32_t max_seen = 0;
  bool saw_small = false;
  for (int i = 0; i < 2000; ++i) {
    if (i % 40 == 0) b.reset();
    const uint32_t ceiling = b.ceiling_ms();
    const uint32_t d = b.next_delay_ms(rng);
    CHECK(d <= ceiling);
    if (d > max_seen) max_seen = d;
    if (d < ceiling / 4) saw_small = true;
  }
  CHECK(max_seen <= 30000);
  CHECK(max_seen > 15000);  // jitter actually spreads over the range
  CHECK(saw_small);
}

TEST_CASE("the RNG extremes map to exactly 0 and exactly the ceiling") {
  iotgw::Backoff lo(100, 5000);
  FixedRng zero(0);
  CHECK(lo.next_delay_ms(zero) == 0);
  iotgw::Backoff hi(100, 5000);
  FixedRng top(0xFFFFFFFFu);
  CHECK(hi.next_delay_ms(top) == 100);
  CHECK(hi.next_delay_ms(top) == 200);
}

TEST_CASE("reset starts over, and thousands of failures cannot overflow") {
  iotgw::Backoff b(1, 0xFFFFFFFFu);
  FixedRng top(0xFFFFFFFFu);
  for (int i = 0; i < 5000; ++i) b.next_delay_ms(top);
  CHECK(b.ceiling_ms() == 0xFFFFFFFFu);
  CHECK(b.next_delay_ms(top) == 0xFFFFFFFFu);
  b.reset();
  CHECK(b.attempts() == 0);
  CHECK(b.ceiling_ms() == 1);
  iotgw::Backoff odd(0, 0);  // nonsense config is clamped, not divided by
  CHECK(odd.ceiling_ms() == 1);
}
