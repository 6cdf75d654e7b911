// Uplink state machine against scripted transports: a reading leaves the ring only when acked.
#include <doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fakes.h"
#include "iotgw_core.h"

using nlohmann::json;

namespace {

iotgw::UplinkConfig uplink_cfg() {
  iotgw::UplinkConfig c{};
  c.max_batch = 5;
  c.max_in_flight = 3;
  c.ack_timeout_ms = 5000;
  c.backoff_base_ms = 100;
  c.backoff_cap_ms = 2000;
  c.use_ws = true;
  return c;
}

std::string ack_of(const json& msg) { return "{\"ack\":" + std::to_string(msg["seq"].get<uint32_t>()) + "}"; }

bool contains_seq(const json& body, uint32_t seq) {
  const auto s = fakes::seqs(body);
  return std::find(s.begin(), s.end(), seq) != s.end();
}

std::vector<uint32_t> range(uint32_t from, uint32_t to_inclusive) {
  std::vector<uint32_t> v;
  for (uint32_t s = from; s <= to_inclusive; ++s) v.push_back(s);
  return v;
}

struct Rig {
  iotgw::Identity id = fakes::identity();
  iotgw::FixedBook book{id};
  iotgw::RingBuffer<iotgw::Sample, 64> ring;
  fakes::FakeDiscovery disc;
  fakes::FakeHttp http;
  fakes::FakeWs ws;
  iotgw::XorShift32 rng{7};
  iotgw::Locator locator;
  fakes::Recorder rec;
  char scratch[8192];
  iotgw::Uplink up;
  uint32_t next_seq = 0;
  uint64_t now = 1000;

  explicit Rig(bool advertise_ws = false, const char* fallback = "", uint8_t max_failures = 3,
               iotgw::UplinkConfig cfg = uplink_cfg())
      : locator(iotgw::LocatorConfig{fallback, 3000, max_failures, 0}),
        up(cfg, book, ring, locator, rng, iotgw::UplinkPorts{&disc, &http, &ws}, scratch, sizeof scratch, &rec) {
    disc.ep = fakes::gateway("192.168.1.10", advertise_ws);
  }
  void produce(uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) ring.push(fakes::sample(next_seq++));
  }
  void tick(uint64_t step = 50) {
    up.tick(now);
    now += step;
  }
  // Ticks until idle (or a generous bound, so a bug fails the test instead of hanging it).
  void drain() {
    for (int i = 0; i < 10000 && !up.idle(); ++i) tick();
    REQUIRE(up.idle());
  }
};

}  // namespace

TEST_CASE("HTTP: readings go out in batches, in order, and leave the ring when acked") {
  Rig r;
  r.produce(12);
  r.drain();
  REQUIRE(r.http.bodies.size() == 3);
  CHECK(fakes::seqs(r.http.bodies[0]) == range(0, 4));
  CHECK(fakes::seqs(r.http.bodies[2]) == range(10, 11));
  CHECK(r.rec.acked == range(0, 11));
  CHECK(r.up.stats().acked == 12);
  CHECK(r.up.stats().retried == 0);
  CHECK(r.up.stats().failures == 0);
  CHECK(r.ws.opens == 0);  // the gateway did not advertise WS
}

TEST_CASE("HTTP: while the gateway is down nothing leaves the ring; then it replays in order") {
  Rig r;
  int calls = 0;
  r.http.respond = [&](const json&) { return iotgw::HttpResult{++calls <= 4 ? -1 : 202, 0, 0}; };
  r.produce(3);
  for (int i = 0; i < 10000 && calls < 4; ++i) {
    const uint64_t before = r.now;
    r.tick();
    if (calls > 0 && calls < 4) {
      CHECK(r.ring.size() == 3);
      CHECK(r.up.next_attempt_ms() <= before + 2000);  // never waits past the cap
    }
  }
  CHECK(r.rec.acked.empty());
  r.drain();
  CHECK(r.rec.acked == range(0, 2));
  CHECK(r.up.stats().failures == 4);
  CHECK(r.up.stats().sent == 15);
  CHECK(r.up.stats().retried == 12);
}

TEST_CASE("HTTP: 503 with Retry-After waits at least that long, keeping the readings") {
  Rig r;
  int calls = 0;
  r.http.respond = [&](const json&) { return ++calls == 1 ? iotgw::HttpResult{503, 7, 0} : iotgw::HttpResult{202, 0, 0}; };
  r.produce(2);
  const uint64_t t0 = r.now;
  r.tick();
  CHECK(r.up.next_attempt_ms() >= t0 + 7000);
  CHECK(r.ring.size() == 2);
  r.drain();
  CHECK(r.rec.acked == range(0, 1));
  CHECK(r.locator.consecutive_failures() == 0);  // busy is not unreachable
}

TEST_CASE("HTTP: 413 halves the batch until the gateway takes it") {
  Rig r;
  r.http.respond = [](const json& b) { return iotgw::HttpResult{b["readings"].size() > 2 ? 413 : 202, 0, 0}; };
  r.produce(9);
  r.drain();
  CHECK(r.rec.acked == range(0, 8));
  CHECK(r.rec.rejected.empty());
  for (size_t i = 2; i < r.http.bodies.size(); ++i) CHECK(r.http.bodies[i]["readings"].size() <= 2);
}

TEST_CASE("HTTP: a 400 batch is retried one by one so only the bad reading is dropped") {
  Rig r;
  r.http.respond = [](const json& b) { return iotgw::HttpResult{contains_seq(b, 3) ? 400 : 202, 0, 0}; };
  r.produce(8);
  r.drain();
  CHECK(r.rec.rejected == std::vector<uint32_t>{3});
  std::vector<uint32_t> expected = range(0, 7);
  expected.erase(expected.begin() + 3);
  CHECK(r.rec.acked == expected);
  CHECK(r.up.stats().rejected == 1);
  CHECK(r.http.bodies.back()["readings"].size() > 1);  // back to batches once past the bad one
}

TEST_CASE("HTTP: after N failures the locator rediscovers and falls back to the configured host") {
  Rig r(false, "10.0.0.9", 2);
  r.disc.answer = [](int call) { return call == 0; };  // the gateway answered once, then went quiet
  r.http.respond = [&](const json&) {
    return iotgw::HttpResult{r.http.hosts.back() == "10.0.0.9" ? 202 : -1, 0, 0};
  };
  r.produce(4);
  r.drain();
  CHECK(r.rec.acked == range(0, 3));
  CHECK(r.http.hosts.front() == "192.168.1.10");
  CHECK(r.http.hosts.back() == "10.0.0.9");
  CHECK(r.disc.calls == 2);
  CHECK(r.locator.source() == iotgw::EndpointSource::kFallback);
}

TEST_CASE("no gateway anywhere: back off between mDNS queries, keep every reading") {
  Rig r;
  r.disc.answer = [](int) { return false; };
  r.produce(3);
  for (int i = 0; i < 200; ++i) r.tick();
  CHECK(r.http.bodies.empty());
  CHECK(r.ring.size() == 3);
  CHECK(r.disc.calls >= 2);
  CHECK(r.disc.calls < 200);  // paced by the backoff, not once per tick
}

TEST_CASE("WS: used when advertised; out-of-order acks still release the ring in order") {
  Rig r(true);
  r.produce(7);
  r.tick();
  CHECK(r.ws.opens == 1);
  REQUIRE(r.ws.sent.size() == 2);
  CHECK(fakes::seqs(r.ws.sent[0]) == range(0, 4));
  CHECK(fakes::seqs(r.ws.sent[1]) == range(5, 6));
  CHECK(r.ws.sent[0]["seq"] != r.ws.sent[1]["seq"]);
  r.ws.replies.push_back(ack_of(r.ws.sent[1]));
  r.tick();
  CHECK(r.ring.size() == 7);  // the first message is still unacked
  CHECK(r.rec.acked.empty());
  r.ws.replies.push_back(ack_of(r.ws.sent[0]));
  r.tick();
  CHECK(r.ring.empty());
  CHECK(r.rec.acked == range(0, 6));
  CHECK(r.http.bodies.empty());
}

TEST_CASE("WS: at most max_in_flight messages await acks") {
  Rig r(true);
  r.produce(30);
  r.tick();
  CHECK(r.ws.sent.size() == 3);
  r.ws.ack_all();
  r.tick();
  CHECK(r.ws.sent.size() == 6);
  r.ws.responder = ack_of;
  r.ws.ack_all();
  r.drain();
  CHECK(r.rec.acked == range(0, 29));
}

TEST_CASE("WS: a closed connection means resend everything unacked and look for the gateway again") {
  Rig r(true);
  r.produce(4);
  r.tick();
  REQUIRE(r.ws.sent.size() == 1);
  r.ws.close();  // the gateway went away before acking
  r.tick();
  CHECK(r.ring.size() == 4);
  CHECK(r.locator.needs_discovery(r.now));
  r.ws.responder = ack_of;
  r.drain();
  CHECK(r.ws.opens == 2);
  CHECK(r.disc.calls == 2);
  CHECK(r.rec.acked == range(0, 3));
  CHECK(r.up.stats().retried == 4);
}

TEST_CASE("WS: a permanent nack isolates and drops only the bad reading") {
  Rig r(true);
  r.ws.responder = [](const json& m) -> std::string {
    if (contains_seq(m, 1)) {
      return "{\"nack\":" + std::to_string(m["seq"].get<uint32_t>()) +
             ",\"error\":{\"code\":\"invalid_field\",\"message\":\"bad\",\"path\":\"readings[0].x\"}}";
    }
    return ack_of(m);
  };
  r.produce(3);
  r.drain();
  CHECK(r.rec.acked == (std::vector<uint32_t>{0, 2}));
  CHECK(r.rec.rejected == std::vector<uint32_t>{1});
}

TEST_CASE("WS: a transient nack backs off and resends") {
  Rig r(true);
  int nacks = 0;
  r.ws.responder = [&](const json& m) -> std::string {
    if (nacks < 2) {
      ++nacks;
      return "{\"nack\":" + std::to_string(m["seq"].get<uint32_t>()) + ",\"error\":{\"code\":\"unavailable\"}}";
    }
    return ack_of(m);
  };
  r.produce(2);
  r.tick();
  r.tick();
  CHECK(r.up.stats().failures >= 1);
  CHECK(r.ring.size() == 2);
  r.drain();
  CHECK(r.rec.acked == range(0, 1));
  CHECK(r.rec.rejected.empty());
  CHECK(r.up.stats().retried >= 2);
}

TEST_CASE("WS: an ack that never comes reconnects and resends") {
  Rig r(true);
  r.produce(2);
  r.tick();
  REQUIRE(r.ws.sent.size() == 1);
  for (int i = 0; i < 200 && r.ws.opens < 2; ++i) r.tick();  // 10 s of silence
  CHECK(r.ws.opens == 2);
  CHECK(r.ring.size() == 2);
  r.ws.responder = ack_of;
  r.ws.ack_all();
  r.drain();
  CHECK(r.rec.acked.front() == 0);
  CHECK(r.up.stats().acked == 2);
}

TEST_CASE("an outage longer than the ring: newest readings replay, every drop is counted") {
  Rig r;
  r.ring.set_limit(8);
  bool down = true;
  r.http.respond = [&](const json&) { return iotgw::HttpResult{down ? -1 : 202, 0, 0}; };
  for (int i = 0; i < 20; ++i) {
    r.produce(1);
    r.tick(500);
  }
  CHECK(r.rec.acked.empty());
  down = false;
  r.drain();
  CHECK(r.ring.dropped() == 12);
  CHECK(r.rec.acked == range(12, 19));
  CHECK(r.rec.acked.size() + r.ring.dropped() == 20);
}

TEST_CASE("WS: a 401 on the upgrade is reported with its status and keeps the endpoint") {
  Rig r(true);
  r.ws.open_ok = false;
  r.ws.refused_status = 401;
  r.produce(3);
  for (int i = 0; i < 2000; ++i) r.tick();
  CHECK(r.ws.opens >= 4);
  CHECK(std::count(r.rec.backoff_status.begin(), r.rec.backoff_status.end(), 401u) == r.ws.opens);
  CHECK(r.disc.calls == 1);  // the gateway is there: no rediscovery
  CHECK(r.ring.size() == 3);
  CHECK(r.rec.acked.empty());
}

TEST_CASE("WS: no answer to the upgrade counts against the endpoint (rediscovery)") {
  Rig r(true);
  r.ws.open_ok = false;
  r.ws.refused_status = 0;
  r.produce(1);
  for (int i = 0; i < 2000 && r.disc.calls < 2; ++i) r.tick();
  CHECK(r.disc.calls >= 2);
  CHECK(std::count(r.rec.backoff_status.begin(), r.rec.backoff_status.end(), 0u) >= 3);
}

TEST_CASE("WS: an ack longer than the receive buffer is cut, and still acks") {
  Rig r(true);
  const std::string padding(2000, 'x');
  r.ws.responder = [&](const json& msg) {
    return "{\"ack\":" + std::to_string(msg["seq"].get<uint32_t>()) + ",\"note\":\"" + padding + "\"}";
  };
  r.produce(12);
  r.drain();
  CHECK(r.rec.acked == range(0, 11));
}

TEST_CASE("HTTP: the offer in a 202 body reaches the observer before the readings are released") {
  Rig r;
  const std::string sha(64, 'a');
  r.http.reply_body = "{\"accepted\":3,\"duplicates\":0,\"firmware\":{\"version\":\"0.2.0\",\"sha256\":\"" + sha +
                      "\",\"size\":1000}}";
  r.produce(3);
  r.drain();
  REQUIRE(r.rec.offers.size() == 1);
  CHECK(std::string(r.rec.offers[0].version) == "0.2.0");
  CHECK(r.rec.acked == range(0, 2));
}

TEST_CASE("HTTP: an error body's offer-like text is not taken") {
  Rig r;
  r.http.reply_body = "{\"firmware\":{\"version\":\"0.2.0\",\"sha256\":\"" + std::string(64, 'a') + "\",\"size\":1}}";
  int calls = 0;
  r.http.respond = [&](const json&) { return iotgw::HttpResult{++calls == 1 ? 503 : 202, 0, 0}; };
  r.produce(1);
  r.drain();
  CHECK(r.rec.offers.size() == 1);  // from the 202 only
}

TEST_CASE("WS: an ack's offer reaches the observer") {
  Rig r(true);
  const std::string sha(64, 'f');
  r.ws.responder = [&](const json& msg) {
    return "{\"ack\":" + std::to_string(msg["seq"].get<uint32_t>()) +
           ",\"accepted\":1,\"firmware\":{\"version\":\"0.3.0\",\"sha256\":\"" + sha + "\",\"size\":77}}";
  };
  r.produce(2);
  r.drain();
  REQUIRE_FALSE(r.rec.offers.empty());
  CHECK(r.rec.offers[0].size == 77);
}
