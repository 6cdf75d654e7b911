// Deep-sleep sampling for battery boards (site.ini deep_sleep = 1): the board wakes every
// sample period, takes one reading into the ring (kept in RTC memory through the sleep), and
// brings Wi-Fi up only on some wakes, because joining Wi-Fi costs more energy than everything
// else a wake does. The decisions are here; the glue sleeps and wakes.
#pragma once

#include <stdint.h>

namespace iotgw {

struct SleepConfig {
  uint32_t period_ms;         // one reading per wake, every period
  uint16_t send_every;        // bring Wi-Fi up on every Nth reading
  uint32_t awake_budget_ms;   // longest time awake for sending
  uint32_t update_budget_ms;  // longest time awake while an update is under way (download, trial)
};

struct WakeState {
  uint32_t seq;          // seq of the reading this wake took
  bool new_session;      // a power-on, or a session that did not continue
  bool news_pending;     // update news not yet acknowledged
  bool update_busy;      // an update waiting, downloading, switching or on trial
};

// After the wake's reading: bring Wi-Fi up now? Every send_every-th reading (so an outage costs
// one connection attempt per send_every wakes, not one per wake), and whenever there is news for
// the gateway, an update to carry on, or a session it has not heard of.
bool connect_this_wake(const SleepConfig& cfg, const WakeState& s);

// While awake with Wi-Fi: may the board sleep again? When everything was sent, or the budget is
// spent; an update under way keeps it up to update_budget_ms.
bool may_sleep(const SleepConfig& cfg, uint64_t awake_ms, bool uplink_idle, bool update_busy);

// How long to sleep so wakes stay one period apart; at least a second.
uint32_t sleep_ms(const SleepConfig& cfg, uint64_t awake_ms);

}  // namespace iotgw
