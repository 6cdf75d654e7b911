// Deep-sleep sampling: which wakes bring Wi-Fi up, when the board sleeps again, for how long.
#include <doctest.h>

#include "fakes.h"
#include "iotgw_core.h"

namespace {
const iotgw::SleepConfig kCfg{60000, 6, 20000, 15UL * 60UL * 1000UL};
iotgw::WakeState wake(uint32_t seq) { return iotgw::WakeState{seq, false, false, false}; }
}  // namespace

TEST_CASE("Wi-Fi comes up on every send_every-th reading") {
  int connects = 0;
  for (uint32_t seq = 0; seq < 60; ++seq) connects += iotgw::connect_this_wake(kCfg, wake(seq));
  CHECK(connects == 10);
  CHECK_FALSE(iotgw::connect_this_wake(kCfg, wake(0)));
  CHECK(iotgw::connect_this_wake(kCfg, wake(5)));  // the 6th reading
  CHECK(iotgw::connect_this_wake(iotgw::SleepConfig{60000, 0, 20000, 1}, wake(3)));  // 0 counts as 1
}

TEST_CASE("a new session, news for the gateway or an update under way bring Wi-Fi up at once") {
  CHECK(iotgw::connect_this_wake(kCfg, iotgw::WakeState{1, true, false, false}));
  CHECK(iotgw::connect_this_wake(kCfg, iotgw::WakeState{1, false, true, false}));
  CHECK(iotgw::connect_this_wake(kCfg, iotgw::WakeState{1, false, false, true}));
}

TEST_CASE("awake with Wi-Fi: sleep once everything is sent or the budget is spent") {
  CHECK(iotgw::may_sleep(kCfg, 100, true, false));
  CHECK_FALSE(iotgw::may_sleep(kCfg, 19999, false, false));
  CHECK(iotgw::may_sleep(kCfg, 20000, false, false));
}

TEST_CASE("an update under way keeps the board up to the update budget, sent or not") {
  CHECK_FALSE(iotgw::may_sleep(kCfg, 100, true, true));
  CHECK_FALSE(iotgw::may_sleep(kCfg, 10UL * 60UL * 1000UL, true, true));
  CHECK(iotgw::may_sleep(kCfg, 15UL * 60UL * 1000UL, false, true));
}

TEST_CASE("sleep keeps wakes one period apart, never less than a second") {
  CHECK(iotgw::sleep_ms(kCfg, 0) == 60000);
  CHECK(iotgw::sleep_ms(kCfg, 4500) == 55500);
  CHECK(iotgw::sleep_ms(kCfg, 59500) == 1000);
  CHECK(iotgw::sleep_ms(kCfg, 600000) == 1000);
}

TEST_CASE("a deep-sleep board: offline wakes keep the session and seq, the readings go on the Nth wake") {
  // The board's cycle with the core's pieces: each wake is a new Device over the same memory.
  iotgw::DeviceMemory<64> mem{};
  struct Sensors final : iotgw::SensorPort {
    void read(iotgw::Sample* s) override { *s = fakes::sample(0); }
  } sensors;
  fakes::FakeDiscovery disc;
  fakes::FakeHttp http;
  iotgw::XorShift32 rng{5};
  iotgw::DeviceConfig cfg{};
  cfg.sample_period_ms = 60000;
  cfg.uplink = iotgw::UplinkConfig{10, 1, 5000, 100, 1000, false};
  cfg.locator = iotgw::LocatorConfig{"", 0, 3, 0};
  cfg.update = iotgw::UpdateConfig{0x1E0000, 60000, 100, 1000, 600000, 4096, 600000};
  iotgw::Identity id = fakes::identity();
  int connected_wakes = 0;
  for (int w = 0; w < 12; ++w) {
    iotgw::copy_str(id.boot_id, sizeof id.boot_id, w == 0 ? "first-boot" : "ignored");
    iotgw::Device<64, 8192> dev(cfg, mem, id, iotgw::DevicePorts{&sensors, &rng, {&disc, &http, nullptr}, nullptr, nullptr, nullptr});
    dev.start(0, iotgw::BootOutcome{});
    CHECK(std::string(dev.identity().boot_id) == "first-boot");
    dev.sample(0);
    const iotgw::WakeState s{dev.produced() > 0 ? mem.next_seq - 1 : 0, dev.restored() != iotgw::Restored::kContinued,
                             dev.current_news() != nullptr, dev.update().busy()};
    if (!iotgw::connect_this_wake(kCfg, s)) continue;
    ++connected_wakes;
    for (uint64_t t = 0; t < 20000 && !dev.uplink().idle(); t += 50) dev.loop(t, false);
    CHECK(dev.ring().empty());
  }
  CHECK(connected_wakes == 3);  // the first (new session), the 6th and the 12th reading
  std::vector<uint32_t> seqs;
  for (const auto& b : http.bodies) {
    for (const auto& r : b["readings"]) {
      CHECK(r["boot_id"] == "first-boot");
      seqs.push_back(r["seq"].get<uint32_t>());
    }
  }
  CHECK(seqs.size() == 12);
  for (uint32_t i = 0; i < seqs.size(); ++i) CHECK(seqs[i] == i);
}
