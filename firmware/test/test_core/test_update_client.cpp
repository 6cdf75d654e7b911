// The board's OTA update client: offer -> empty ring -> download (resume, backoff) -> verify ->
// switch -> confirm or roll back. Bytes come from a scripted image server into a memory slot.
#include <doctest.h>

#include <string>
#include <vector>

#include "fakes.h"
#include "update_client.h"

using iotgw::UpdateAction;
using iotgw::UpdatePhase;
using iotgw::UpdateState;

namespace {

struct NewsLog final : iotgw::UpdateNewsSink {
  struct Entry {
    UpdateState state;
    std::string version;
    std::string reason;
  };
  std::vector<Entry> entries;
  void update_news(UpdateState state, const char* version, const char* reason) override {
    entries.push_back({state, version, reason});
  }
  const Entry& last() const { return entries.back(); }
};

iotgw::UpdateConfig update_cfg() {
  iotgw::UpdateConfig c{};
  c.max_image_size = 0x1E0000;
  c.ring_wait_ms = 60000;
  c.retry_base_ms = 1000;
  c.retry_cap_ms = 8000;
  c.failed_wait_ms = 600000;
  c.read_budget = 4096;
  c.confirm_timeout_ms = 600000;
  return c;
}

struct Rig {
  fakes::FakeImageSource src;
  fakes::FakeFlash flash;
  NewsLog news;
  iotgw::XorShift32 rng{11};
  iotgw::Endpoint gw = fakes::gateway();
  iotgw::UpdateClient up;
  uint64_t now = 1000;
  std::string img = fakes::image_bytes(50000);

  explicit Rig(iotgw::UpdateConfig cfg = update_cfg()) : up(cfg, "0.1.0", &src, &flash, news, rng) {
    src.image = img;
  }
  // Ticks (50 ms apart) until an action or the bound; returns the action.
  UpdateAction run(int max_ticks = 100000, bool ring_empty = true) {
    for (int i = 0; i < max_ticks; ++i) {
      const UpdateAction a = up.tick(now, &gw, ring_empty);
      now += 50;
      if (a != UpdateAction::kNone) return a;
    }
    return UpdateAction::kNone;
  }
};

}  // namespace

TEST_CASE("a verified image is switched to and the board is told to restart") {
  Rig r;
  r.up.offer(r.now, fakes::offer_for(r.img));
  CHECK(r.up.phase() == UpdatePhase::kWaiting);
  CHECK(r.run() == UpdateAction::kRestart);
  CHECK(r.flash.data == r.img);
  REQUIRE(r.flash.finished.size() == 1);
  CHECK(std::string(r.flash.finished[0].version) == "0.2.0");
  CHECK(r.up.phase() == UpdatePhase::kSwitching);
  REQUIRE(r.news.entries.size() == 1);
  CHECK(r.news.last().state == UpdateState::kDownloading);
  CHECK(r.news.last().version == "0.2.0");
  CHECK(r.up.stats().bytes == r.img.size());
}

TEST_CASE("the download waits for an empty ring, or ring_wait_ms at most") {
  Rig r;
  r.up.offer(r.now, fakes::offer_for(r.img));
  for (int i = 0; i < 100; ++i) CHECK(r.up.tick(r.now += 50, &r.gw, false) == UpdateAction::kNone);
  CHECK(r.src.offsets.empty());
  CHECK(r.up.tick(r.now, &r.gw, true) == UpdateAction::kNone);  // empty now: starts
  CHECK(r.src.offsets.size() == 1);

  Rig slow;
  slow.up.offer(slow.now, fakes::offer_for(slow.img));
  const uint64_t t0 = slow.now;
  while (slow.src.offsets.empty() && slow.now < t0 + 120000) slow.up.tick(slow.now += 50, &slow.gw, false);
  CHECK(slow.src.offsets.size() == 1);
  CHECK(slow.now - t0 >= 60000);
  CHECK(slow.now - t0 < 60100);
}

TEST_CASE("a dropped connection resumes at the byte it stopped, after a backoff") {
  Rig r;
  r.src.drop_after = 12000;
  r.up.offer(r.now, fakes::offer_for(r.img));
  CHECK(r.run() == UpdateAction::kRestart);
  CHECK(r.flash.data == r.img);
  REQUIRE(r.src.offsets.size() == 5);  // 12000 bytes per response
  CHECK(r.src.offsets == std::vector<uint32_t>{0, 12000, 24000, 36000, 48000});
  CHECK(r.up.stats().resumes == 4);
  CHECK(r.news.entries.size() == 1);  // resuming is not news: still downloading
}

TEST_CASE("no answer from the gateway backs off and tries again from the same offset") {
  Rig r;
  r.src.answer_none = 3;
  r.up.offer(r.now, fakes::offer_for(r.img));
  const uint64_t t0 = r.now;
  CHECK(r.run() == UpdateAction::kRestart);
  CHECK(r.src.offsets == std::vector<uint32_t>{0, 0, 0, 0});
  CHECK(r.now - t0 > 0);
  CHECK(r.flash.data == r.img);
}

TEST_CASE("a gateway that ignores Range (200) makes the download start over, still correct") {
  Rig r;
  r.src.drop_after = 20000;
  r.src.no_range = true;
  r.up.offer(r.now, fakes::offer_for(r.img));
  // Every response starts at 0 and drops at 20000: it can never finish; make it stop dropping.
  for (int i = 0; i < 2000 && r.src.offsets.size() < 3; ++i) r.up.tick(r.now += 50, &r.gw, true);
  r.src.drop_after = -1;
  CHECK(r.run() == UpdateAction::kRestart);
  CHECK(r.flash.data == r.img);
}

TEST_CASE("an image whose hash does not match is refused, reported, and not taken again for a while") {
  Rig r;
  iotgw::FirmwareOffer o = fakes::offer_for(r.img);
  r.src.image[100] ^= 0x55;  // the gateway serves other bytes than it announced
  r.up.offer(r.now, o);
  CHECK(r.run(5000) == UpdateAction::kNone);
  CHECK(r.up.phase() == UpdatePhase::kIdle);
  CHECK(r.flash.finished.empty());
  CHECK(r.flash.aborts >= 1);
  REQUIRE(r.news.entries.size() == 2);
  CHECK(r.news.last().state == UpdateState::kFailed);
  CHECK(r.news.last().reason == "sha256 mismatch");
  CHECK(r.news.last().version == "0.2.0");
  r.up.offer(r.now, o);  // the gateway offers it again at once: not taken
  CHECK(r.up.phase() == UpdatePhase::kIdle);
  r.now += 600000;
  r.up.offer(r.now, o);  // later it is (the gateway stops offering after max_failures reports)
  CHECK(r.up.phase() == UpdatePhase::kWaiting);
}

TEST_CASE("more bytes than offered is a size mismatch") {
  Rig r;
  iotgw::FirmwareOffer o = fakes::offer_for(r.img);
  r.src.image += "trailing";
  r.up.offer(r.now, o);
  CHECK(r.run(5000) == UpdateAction::kNone);
  CHECK(r.news.last().state == UpdateState::kFailed);
  CHECK(r.news.last().reason == "size mismatch");
  CHECK(r.flash.finished.empty());
}

TEST_CASE("fewer bytes than offered: the resume is refused (416) and reported") {
  Rig r;
  iotgw::FirmwareOffer o = fakes::offer_for(r.img);
  r.src.image.resize(30000);
  r.up.offer(r.now, o);
  auto failed = [&] { return !r.news.entries.empty() && r.news.last().state == UpdateState::kFailed; };
  for (int i = 0; i < 5000 && !failed(); ++i) {
    if (r.src.offsets.size() == 1 && !r.src.open_now) r.src.status = 416;  // what the gateway says past the end
    r.up.tick(r.now += 50, &r.gw, true);
  }
  CHECK(r.news.last().state == UpdateState::kFailed);
  CHECK(r.news.last().reason == "http 416");
  CHECK(r.flash.finished.empty());
}

TEST_CASE("a refused download (404) and a slot without room fail with their reason") {
  Rig r;
  r.src.status = 404;
  r.up.offer(r.now, fakes::offer_for(r.img));
  r.run(100);
  CHECK(r.news.last().state == UpdateState::kFailed);
  CHECK(r.news.last().reason == "http 404");

  Rig full;
  full.flash.room = false;
  full.up.offer(full.now, fakes::offer_for(full.img));
  full.run(100);
  CHECK(full.news.last().reason == "no room");
  CHECK(full.src.offsets.empty());
}

TEST_CASE("offers that cannot or need not be taken are ignored") {
  Rig r;
  iotgw::FirmwareOffer o = fakes::offer_for(r.img);
  iotgw::FirmwareOffer bad = o;
  bad.sha256[10] = 'z';
  r.up.offer(r.now, bad);
  bad = o;
  bad.size = 0;
  r.up.offer(r.now, bad);
  bad.size = 0x1E0001;  // larger than the slot
  r.up.offer(r.now, bad);
  bad = o;
  iotgw::copy_str(bad.version, sizeof bad.version, "0.2");
  r.up.offer(r.now, bad);
  bad = o;
  iotgw::copy_str(bad.version, sizeof bad.version, "0.1.0");  // what runs already
  r.up.offer(r.now, bad);
  CHECK(r.up.phase() == UpdatePhase::kIdle);
  CHECK(r.up.stats().ignored == 5);
  r.up.offer(r.now, o);
  r.up.offer(r.now, o);  // the same again while waiting: nothing changes
  CHECK(r.up.stats().offers == 1);
}

TEST_CASE("a different image offered mid-download replaces the one in progress") {
  Rig r;
  r.src.chunk = 500;
  r.up.offer(r.now, fakes::offer_for(r.img));
  r.up.tick(r.now += 50, &r.gw, true);
  CHECK(r.up.phase() == UpdatePhase::kDownloading);
  const std::string other = fakes::image_bytes(30000, 9);
  r.src.image = other;
  r.up.offer(r.now, fakes::offer_for(other, "0.3.0"));
  CHECK(r.flash.aborts == 1);
  CHECK(r.run() == UpdateAction::kRestart);
  CHECK(r.flash.data == other);
  CHECK(std::string(r.flash.finished.back().version) == "0.3.0");
}

TEST_CASE("on trial: the first acknowledged reading confirms the image") {
  Rig r;
  iotgw::BootOutcome boot{iotgw::BootKind::kTrial, fakes::offer_for(r.img), false};
  r.up.start(r.now, boot);
  CHECK(r.news.last().state == UpdateState::kUpdated);
  CHECK(r.news.last().version == "0.2.0");
  CHECK(r.up.phase() == UpdatePhase::kTrial);
  r.up.offer(r.now, fakes::offer_for(fakes::image_bytes(100, 3), "0.3.0"));  // not while on trial
  CHECK(r.up.phase() == UpdatePhase::kTrial);
  CHECK(r.up.tick(r.now += 1000, &r.gw, true) == UpdateAction::kNone);
  r.up.on_acked_this_boot();
  CHECK(r.up.tick(r.now += 50, &r.gw, true) == UpdateAction::kConfirm);
  CHECK(r.up.phase() == UpdatePhase::kIdle);
  CHECK(r.up.tick(r.now += 600000, &r.gw, true) == UpdateAction::kNone);  // never a late rollback
}

TEST_CASE("on trial: no acknowledged reading within the confirm timeout rolls back") {
  Rig r;
  r.up.start(r.now, iotgw::BootOutcome{iotgw::BootKind::kTrial, fakes::offer_for(r.img), false});
  const uint64_t t0 = r.now;
  UpdateAction a = UpdateAction::kNone;
  while (a == UpdateAction::kNone && r.now < t0 + 700000) a = r.up.tick(r.now += 1000, &r.gw, true);
  CHECK(a == UpdateAction::kRollback);
  CHECK(r.now - t0 >= 600000);
  CHECK(r.now - t0 < 601100);
}

TEST_CASE("after a rollback: report it, and refuse that image until the gateway has the report") {
  Rig r;
  const iotgw::FirmwareOffer left = fakes::offer_for(r.img);
  r.up.start(r.now, iotgw::BootOutcome{iotgw::BootKind::kRolledBack, left, true});
  CHECK(r.news.last().state == UpdateState::kRolledBack);
  CHECK(r.news.last().version == "0.2.0");
  r.up.offer(r.now, left);
  CHECK(r.up.phase() == UpdatePhase::kIdle);
  r.up.on_news_delivered(UpdateState::kRolledBack);
  r.up.offer(r.now, left);  // offered after the report: the operator published it again
  CHECK(r.up.phase() == UpdatePhase::kWaiting);
}

TEST_CASE("a boot after a confirmed update reports updated; the other outcomes report nothing") {
  Rig r;
  r.up.start(r.now, iotgw::BootOutcome{iotgw::BootKind::kUpdated, fakes::offer_for(r.img), true});
  CHECK(r.news.last().state == UpdateState::kUpdated);
  CHECK(r.up.phase() == UpdatePhase::kIdle);
  Rig q;
  q.up.start(q.now, iotgw::BootOutcome{iotgw::BootKind::kSwitchNotMade, fakes::offer_for(q.img), true});
  q.up.start(q.now, iotgw::BootOutcome{iotgw::BootKind::kNormal, {}, false});
  CHECK(q.news.entries.empty());
}

TEST_CASE("no gateway known: an offer waits, nothing is fetched") {
  Rig r;
  r.up.offer(r.now, fakes::offer_for(r.img));
  for (int i = 0; i < 100; ++i) CHECK(r.up.tick(r.now += 50, nullptr, true) == UpdateAction::kNone);
  CHECK(r.src.offsets.empty());
  CHECK(r.run() == UpdateAction::kRestart);
}
