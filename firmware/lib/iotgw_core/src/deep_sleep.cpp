#include "deep_sleep.h"

namespace iotgw {

bool connect_this_wake(const SleepConfig& cfg, const WakeState& s) {
  if (s.new_session || s.news_pending || s.update_busy) return true;
  const uint32_t every = cfg.send_every > 0 ? cfg.send_every : 1;
  return (s.seq + 1) % every == 0;
}

bool may_sleep(const SleepConfig& cfg, uint64_t awake_ms, bool uplink_idle, bool update_busy) {
  if (update_busy) return awake_ms >= cfg.update_budget_ms;
  return uplink_idle || awake_ms >= cfg.awake_budget_ms;
}

uint32_t sleep_ms(const SleepConfig& cfg, uint64_t awake_ms) {
  constexpr uint32_t kMinimum = 1000;
  if (awake_ms + kMinimum >= cfg.period_ms) return kMinimum;
  return static_cast<uint32_t>(cfg.period_ms - awake_ms);
}

}  // namespace iotgw
