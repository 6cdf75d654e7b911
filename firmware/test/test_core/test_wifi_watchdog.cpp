// Wi-Fi watchdog: when to reconnect by hand and when to restart (the core's own reconnect gives
// up after ASSOC_LEAVE or a repeated AUTH_FAIL).
#include <doctest.h>

#include "wifi_watchdog.h"

using iotgw::WifiAction;

namespace {
iotgw::WifiWatchdog dog() { return iotgw::WifiWatchdog(iotgw::WifiWatchdogConfig{30000, 30000, 300000}); }
}  // namespace

TEST_CASE("a connected link needs nothing") {
  auto w = dog();
  for (uint64_t t = 0; t < 1000000; t += 1000) CHECK(w.tick(t, true) == WifiAction::kNone);
  CHECK_FALSE(w.down());
}

TEST_CASE("down for 30 s: reconnect once, then every 30 s while still down") {
  auto w = dog();
  CHECK(w.tick(1000, false) == WifiAction::kNone);  // the outage starts here
  CHECK(w.tick(30999, false) == WifiAction::kNone);
  CHECK(w.tick(31000, false) == WifiAction::kReconnect);
  CHECK(w.tick(31010, false) == WifiAction::kNone);  // not again at once
  CHECK(w.tick(60999, false) == WifiAction::kNone);
  CHECK(w.tick(61000, false) == WifiAction::kReconnect);
  CHECK(w.reconnects() == 2);
}

TEST_CASE("down for 5 minutes: restart, and keep saying so until the glue does it") {
  auto w = dog();
  w.tick(0, false);
  int reconnects = 0;
  for (uint64_t t = 1000; t < 300000; t += 1000) reconnects += w.tick(t, false) == WifiAction::kReconnect;
  CHECK(reconnects == 9);  // at 30, 60, ... 270 s
  CHECK(w.tick(300000, false) == WifiAction::kRestart);
  CHECK(w.tick(300500, false) == WifiAction::kRestart);
}

TEST_CASE("the link coming back ends the outage; the next one counts from its own start") {
  auto w = dog();
  w.tick(0, false);
  CHECK(w.tick(29000, false) == WifiAction::kNone);
  CHECK(w.tick(29500, true) == WifiAction::kNone);
  CHECK(w.tick(40000, false) == WifiAction::kNone);
  CHECK(w.tick(69999, false) == WifiAction::kNone);  // 29.999 s into the second outage
  CHECK(w.tick(70000, false) == WifiAction::kReconnect);
  CHECK(w.tick(339999, false) != WifiAction::kRestart);
  CHECK(w.tick(340000, false) == WifiAction::kRestart);
}

TEST_CASE("restart_after 0 never restarts") {
  iotgw::WifiWatchdog w(iotgw::WifiWatchdogConfig{1000, 1000, 0});
  w.tick(0, false);
  for (uint64_t t = 0; t < 10000000; t += 5000) CHECK(w.tick(t, false) != WifiAction::kRestart);
}
