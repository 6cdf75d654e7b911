// Factory reset: a long press of BOOT while the board runs.
#include <doctest.h>

#include "long_press.h"

TEST_CASE("a press held for the whole hold time fires once") {
  iotgw::LongPress p(5000);
  CHECK_FALSE(p.update(0, false));
  CHECK_FALSE(p.update(100, true));
  CHECK_FALSE(p.update(5099, true));
  CHECK(p.update(5100, true));
  CHECK_FALSE(p.update(5200, true));  // still held: not again
  CHECK_FALSE(p.update(20000, true));
}

TEST_CASE("a short press does nothing, and a release restarts the count") {
  iotgw::LongPress p(5000);
  p.update(0, false);
  CHECK_FALSE(p.update(10, true));
  CHECK_FALSE(p.update(4000, true));
  CHECK_FALSE(p.update(4010, false));
  CHECK_FALSE(p.update(4020, true));
  CHECK_FALSE(p.update(9000, true));  // 4.98 s into this press
  CHECK(p.update(9020, true));
}

TEST_CASE("a second long press after a release fires again") {
  iotgw::LongPress p(1000);
  p.update(0, false);
  p.update(1, true);
  CHECK(p.update(1001, true));
  p.update(1002, false);
  p.update(2000, true);
  CHECK(p.update(3000, true));
}

TEST_CASE("a pin that reads pressed from the start never fires until it was released once") {
  iotgw::LongPress p(1000);
  for (uint64_t t = 0; t < 100000; t += 50) CHECK_FALSE(p.update(t, true));
  CHECK_FALSE(p.update(100000, false));
  CHECK_FALSE(p.update(100050, true));
  CHECK(p.update(101050, true));
}
