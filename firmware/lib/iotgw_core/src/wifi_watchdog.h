// Decides when the board must push its Wi-Fi back up, or restart, after the link went down.
//
// Why not trust the ESP32 core: it reconnects by itself only for some disconnect reasons
// (WiFiGeneric.cpp, _isReconnectableReason), and never after ASSOC_LEAVE ("voluntarily
// disconnected") or a second AUTH_FAIL, both of which a rebooting router can cause. Without this
// the board kept sampling into a full ring and dropped readings until someone power-cycled it.
// The glue tells the watchdog every loop whether the station is connected and does what it says.
#pragma once

#include <stdint.h>

namespace iotgw {

struct WifiWatchdogConfig {
  uint32_t reconnect_after_ms;  // down this long: first reconnect (disconnect + begin)
  uint32_t reconnect_every_ms;  // then again this often while still down
  uint32_t restart_after_ms;    // down this long: restart the board (0 = never)
};

enum class WifiAction : uint8_t { kNone, kReconnect, kRestart };

class WifiWatchdog {
 public:
  explicit WifiWatchdog(const WifiWatchdogConfig& cfg) : cfg_(cfg) {}

  WifiAction tick(uint64_t now_ms, bool connected);
  bool down() const { return down_; }
  uint64_t down_for_ms(uint64_t now_ms) const { return down_ && now_ms > down_since_ ? now_ms - down_since_ : 0; }
  uint32_t reconnects() const { return reconnects_; }

 private:
  WifiWatchdogConfig cfg_;
  bool down_ = false;
  uint64_t down_since_ = 0;
  uint64_t last_attempt_ = 0;
  bool attempted_ = false;
  uint32_t reconnects_ = 0;
};

}  // namespace iotgw
