#include "wifi_watchdog.h"

namespace iotgw {

WifiAction WifiWatchdog::tick(uint64_t now_ms, bool connected) {
  if (connected) {
    down_ = false;
    attempted_ = false;
    return WifiAction::kNone;
  }
  if (!down_) {
    down_ = true;
    down_since_ = now_ms;
    return WifiAction::kNone;
  }
  const uint64_t down_for = down_for_ms(now_ms);
  if (cfg_.restart_after_ms > 0 && down_for >= cfg_.restart_after_ms) return WifiAction::kRestart;
  if (down_for < cfg_.reconnect_after_ms) return WifiAction::kNone;
  if (attempted_ && now_ms - last_attempt_ < cfg_.reconnect_every_ms) return WifiAction::kNone;
  attempted_ = true;
  last_attempt_ = now_ms;
  ++reconnects_;
  return WifiAction::kReconnect;
}

}  // namespace iotgw
