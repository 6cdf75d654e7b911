// The Device over DeviceMemory: what a reset, a corrupt memory, a firmware switch and a rollback
// do to boot_id, seq and the unsent readings, and the whole OTA flow through its ports.
#include <doctest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fakes.h"
#include "iotgw_core.h"

using nlohmann::json;
using iotgw::Restored;
using iotgw::UpdateAction;

namespace {

using Dev = iotgw::Device<64, 8192>;

struct FakeSensors final : iotgw::SensorPort {
  void read(iotgw::Sample* s) override { *s = fakes::sample(0); }
};

iotgw::DeviceConfig device_cfg() {
  iotgw::DeviceConfig c{};
  c.sample_period_ms = 1000;
  c.uplink.max_batch = 5;
  c.uplink.max_in_flight = 2;
  c.uplink.ack_timeout_ms = 5000;
  c.uplink.backoff_base_ms = 100;
  c.uplink.backoff_cap_ms = 500;
  c.uplink.use_ws = false;
  c.locator = iotgw::LocatorConfig{"", 0, 3, 0};
  c.update = iotgw::UpdateConfig{0x1E0000, 60000, 100, 1000, 600000, 4096, 60000};
  return c;
}

struct Board {
  iotgw::DeviceMemory<64> mem{};  // all zero: never written
  FakeSensors sensors;
  fakes::FakeDiscovery disc;
  fakes::FakeHttp http;
  fakes::FakeImageSource src;
  fakes::FakeFlash flash;
  fakes::Recorder rec;
  iotgw::XorShift32 rng{3};
  std::unique_ptr<Dev> dev;
  uint64_t now = 1000;
  bool gateway_up = true;

  std::vector<json> accepted;  // readings the gateway answered 202 for, in order

  Board() {
    http.respond = [this](const json& body) {
      if (!gateway_up) return iotgw::HttpResult{-1, 0, 0};
      for (const auto& r : body["readings"]) accepted.push_back(r);
      return iotgw::HttpResult{202, 0, 0};
    };
  }
  // A (re)boot: a new Device over the same memory, as the board's RTC memory or the simulator.
  void boot(const char* fw, const char* boot_id, iotgw::BootOutcome outcome = {}) {
    dev.reset();
    iotgw::Identity id = fakes::identity();
    iotgw::copy_str(id.fw_version, sizeof id.fw_version, fw);
    iotgw::copy_str(id.boot_id, sizeof id.boot_id, boot_id);
    dev = std::make_unique<Dev>(device_cfg(), mem, id,
                                iotgw::DevicePorts{&sensors, &rng, {&disc, &http, nullptr}, &src, &flash, &rec});
    dev->start(now, outcome);
  }
  // Runs `ms` of loop at 50 ms steps; returns the first update action (the loop stops there).
  UpdateAction run(uint64_t ms, bool sampling = true) {
    for (uint64_t end = now + ms; now < end; now += 50) {
      const UpdateAction a = dev->loop(now, sampling);
      if (a != UpdateAction::kNone) return a;
    }
    return UpdateAction::kNone;
  }
  std::vector<json> received() const { return accepted; }
};

}  // namespace

TEST_CASE("CRC-32 check value") {
  CHECK(iotgw::crc32("123456789", 9) == 0xCBF43926u);
  CHECK(iotgw::crc32("", 0) == 0u);
}

TEST_CASE("a memory never written starts a session: this boot's boot_id, seq from 0") {
  Board b;
  b.boot("0.1.0", "b1");
  CHECK(b.dev->restored() == Restored::kFresh);
  b.run(3000);
  const auto got = b.received();
  REQUIRE(got.size() == 3);
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i]["boot_id"] == "b1");
    CHECK(got[i]["seq"] == i);
  }
}

TEST_CASE("a reset with the same identity continues: same boot_id, seq goes on, unsent readings keep their ids") {
  Board b;
  b.gateway_up = false;
  b.boot("0.1.0", "b1");
  b.run(4000);
  REQUIRE(b.dev->ring().size() == 4);
  b.boot("0.1.0", "b2");  // soft reset, watchdog, panic or deep-sleep wake: same memory
  CHECK(b.dev->restored() == Restored::kContinued);
  CHECK(std::string(b.dev->identity().boot_id) == "b1");
  CHECK(b.dev->ring().size() == 4);
  b.gateway_up = true;
  b.run(3000);
  std::vector<uint32_t> seqs;
  for (const auto& r : b.received()) {
    CHECK(r["boot_id"] == "b1");
    seqs.push_back(r["seq"].get<uint32_t>());
  }
  REQUIRE(seqs.size() >= 7);
  for (size_t i = 0; i < seqs.size(); ++i) CHECK(seqs[i] == i);  // 0..3 from before, then on
}

TEST_CASE("a memory that fails its check, or has another layout, is not trusted") {
  for (int damage = 0; damage < 3; ++damage) {
    CAPTURE(damage);
    Board b;
    b.gateway_up = false;
    b.boot("0.1.0", "b1");
    b.run(3000);
    if (damage == 0) reinterpret_cast<uint8_t*>(&b.mem.ring[1])[5] ^= 0x10;  // a bit flipped in a reading
    if (damage == 1) ++b.mem.header.layout;                                   // another firmware's layout
    if (damage == 2) b.mem.next_seq = 999;                                    // written, not sealed
    b.boot("0.1.0", "b2");
    CHECK(b.dev->restored() == Restored::kFresh);
    CHECK(std::string(b.dev->identity().boot_id) == "b2");
    CHECK(b.dev->ring().empty());
  }
}

TEST_CASE("a new firmware starts a new session; the old session's readings go out under its own ids") {
  Board b;
  b.gateway_up = false;
  b.boot("0.1.0", "b1");
  b.run(3000);
  b.boot("0.2.0", "b2");
  CHECK(b.dev->restored() == Restored::kNewSession);
  CHECK(std::string(b.dev->identity().boot_id) == "b2");
  b.run(2000);
  b.gateway_up = true;
  b.run(3000, false);
  const auto got = b.received();
  REQUIRE(got.size() == 5);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(got[i]["boot_id"] == "b1");
    CHECK(got[i]["fw"] == "0.1.0");
    CHECK(got[i]["seq"] == i);
  }
  for (size_t i = 3; i < 5; ++i) {
    CHECK(got[i]["boot_id"] == "b2");
    CHECK(got[i]["fw"] == "0.2.0");
    CHECK(got[i]["seq"] == i - 3);
  }
  CHECK(b.rec.acked_boot == std::vector<std::string>{"b1", "b1", "b1", "b2", "b2"});
}

TEST_CASE("readings two sessions old make room for the new one, and are counted as dropped") {
  Board b;
  b.gateway_up = false;
  b.boot("0.1.0", "b1");
  b.run(3000);
  b.boot("0.2.0", "b2");
  b.run(2000);
  b.boot("0.1.0", "b3");  // back to 0.1.0 (a rollback) before anything was sent
  CHECK(b.dev->restored() == Restored::kNewSession);
  CHECK(b.dev->ring().dropped() == 3);
  b.gateway_up = true;
  b.run(1000);
  std::set<std::string> boots;
  for (const auto& r : b.received()) boots.insert(r["boot_id"].get<std::string>());
  CHECK(boots == std::set<std::string>{"b2", "b3"});
}

TEST_CASE("update news rides on the readings until one of them is acknowledged") {
  Board b;
  b.gateway_up = false;
  b.boot("0.2.0", "b1", iotgw::BootOutcome{iotgw::BootKind::kUpdated, fakes::offer_for("x"), true});
  b.run(3000);
  b.gateway_up = true;
  b.run(1000);  // the three readings go out (one batch), and one more is taken
  b.run(3000);
  const auto got = b.received();
  REQUIRE(got.size() >= 6);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(got[i]["fw_update"]["state"] == "updated");
    CHECK(got[i]["fw_update"]["version"] == "0.2.0");
  }
  for (size_t i = 4; i < got.size(); ++i) CHECK_FALSE(got[i].contains("fw_update"));
  CHECK(b.dev->current_news() == nullptr);
}

TEST_CASE("OTA: offer in a 202 body, download, switch; the new image confirms on its first acked reading") {
  Board b;
  const std::string img = fakes::image_bytes(300000);  // ~4 KB per loop: longer than a few samples
  const iotgw::FirmwareOffer offer = fakes::offer_for(img);
  b.src.image = img;
  b.http.reply_body = std::string("{\"accepted\":1,\"firmware\":{\"version\":\"0.2.0\",\"sha256\":\"") + offer.sha256 +
                      "\",\"size\":300000}}";
  b.boot("0.1.0", "b1");
  CHECK(b.run(60000) == UpdateAction::kRestart);
  CHECK(b.flash.data == img);
  int downloading = 0;
  for (const auto& r : b.received()) {
    if (r.contains("fw_update")) {
      CHECK(r["fw_update"] == json::parse(R"({"state":"downloading","version":"0.2.0"})"));
      ++downloading;
    }
  }
  CHECK(downloading >= 1);

  // The glue restarts; the bootloader runs the new image on trial.
  b.http.reply_body.clear();  // the gateway offers nothing to a board that runs the target
  const size_t before = b.received().size();
  b.boot("0.2.0", "b2", iotgw::decide_boot(iotgw::BootFacts{true, offer, true, true, false}));
  CHECK(b.dev->update().phase() == iotgw::UpdatePhase::kTrial);
  CHECK(b.run(10000) == UpdateAction::kConfirm);
  const auto got = b.received();
  REQUIRE(got.size() > before);
  CHECK(got[before]["boot_id"] == "b2");
  CHECK(got[before]["fw"] == "0.2.0");
  CHECK(got[before]["fw_update"] == json::parse(R"({"state":"updated","version":"0.2.0"})"));
}

TEST_CASE("OTA: a new image that cannot report rolls back; the old one reports rolled_back") {
  Board b;
  const std::string img = fakes::image_bytes(20000);
  const iotgw::FirmwareOffer offer = fakes::offer_for(img);
  const std::string offer_json = std::string("{\"accepted\":1,\"firmware\":{\"version\":\"0.2.0\",\"sha256\":\"") +
                                 offer.sha256 + "\",\"size\":20000}}";
  b.gateway_up = false;  // the new image cannot reach the gateway
  b.boot("0.2.0", "b2", iotgw::decide_boot(iotgw::BootFacts{true, offer, true, true, false}));
  CHECK(b.run(120000) == UpdateAction::kRollback);
  const size_t trial_readings = b.dev->ring().size();
  CHECK(trial_readings > 0);

  // The bootloader goes back to 0.1.0, which finds the new slot invalid.
  b.gateway_up = true;
  b.http.reply_body = offer_json;  // the gateway still offers 0.2.0 until it sees the report
  b.boot("0.1.0", "b3", iotgw::decide_boot(iotgw::BootFacts{true, offer, false, false, true}));
  CHECK(b.dev->restored() == Restored::kNewSession);
  b.run(1000);
  const auto got = b.received();
  REQUIRE(got.size() > trial_readings);
  // The trial image's readings go out first, under its boot_id; then the rollback report.
  CHECK(got[0]["boot_id"] == "b2");
  CHECK(got[trial_readings]["boot_id"] == "b3");
  CHECK(got[trial_readings]["fw"] == "0.1.0");
  CHECK(got[trial_readings]["fw_update"]["state"] == "rolled_back");
  CHECK(got[trial_readings]["fw_update"]["version"] == "0.2.0");
  // The offer that came with the ack of the report is not taken; a later one is.
  CHECK(b.dev->update().stats().ignored >= 1);
  b.run(3000);
  CHECK(b.dev->update().phase() != iotgw::UpdatePhase::kIdle);
}
