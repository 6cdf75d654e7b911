// Factory reset by a long press on a button, watched while the board runs.
//
// Why not at power-on: GPIO0 (BOOT) held low while the ESP32 comes out of reset selects the ROM
// download mode, so the firmware never runs to see it. A press only counts once the button was
// seen released (a pin that reads "pressed" from the first sample on, e.g. a board that wires
// GPIO0 to something else, must not erase the settings at every boot), and fires once per press.
#pragma once

#include <stdint.h>

namespace iotgw {

class LongPress {
 public:
  explicit LongPress(uint32_t hold_ms) : hold_ms_(hold_ms) {}

  // Feed the button state as often as the loop runs; true once when a press reaches hold_ms.
  bool update(uint64_t now_ms, bool pressed);
  bool held() const { return down_; }

 private:
  uint32_t hold_ms_;
  bool armed_ = false;  // released at least once since start
  bool down_ = false;
  bool fired_ = false;
  uint64_t since_ = 0;
};

}  // namespace iotgw
