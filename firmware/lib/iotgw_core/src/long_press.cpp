#include "long_press.h"

namespace iotgw {

bool LongPress::update(uint64_t now_ms, bool pressed) {
  if (!pressed) {
    armed_ = true;
    down_ = false;
    fired_ = false;
    return false;
  }
  if (!armed_) return false;
  if (!down_) {
    down_ = true;
    since_ = now_ms;
  }
  if (fired_ || now_ms - since_ < hold_ms_) return false;
  fired_ = true;
  return true;
}

}  // namespace iotgw
