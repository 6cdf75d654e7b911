// Parsing the gateway's WebSocket acks and nacks.
#include <doctest.h>

#include <string>

#include "identity.h"
#include "ws_reply.h"

namespace {
iotgw::WsReply parse(const std::string& s, bool* ok = nullptr) {
  iotgw::WsReply r;
  const bool good = iotgw::parse_ws_reply(s.data(), s.size(), &r);
  if (ok != nullptr) *ok = good;
  return r;
}
}  // namespace

TEST_CASE("ack with any spacing") {
  for (const char* s : {"{\"ack\":17}", " { \"ack\" : 17 } ", "{\"ack\":17,\"extra\":[1,{\"a\":\"}\"}]}"}) {
    INFO(s);
    bool ok = false;
    const iotgw::WsReply r = parse(s, &ok);
    CHECK(ok);
    CHECK(r.kind == iotgw::WsReplyKind::kAck);
    CHECK(r.seq == 17);
  }
}

TEST_CASE("nack with error code and path") {
  const iotgw::WsReply r =
      parse("{\"nack\":3,\"error\":{\"code\":\"invalid_field\",\"message\":\"readings[0].group_id: bad \\\"x\\\"\","
            "\"path\":\"readings[0].group_id\"}}");
  CHECK(r.kind == iotgw::WsReplyKind::kNack);
  CHECK(r.seq == 3);
  CHECK(std::string(r.code) == "invalid_field");
  CHECK(r.has_path);
  CHECK(iotgw::nack_is_permanent(r));
}

TEST_CASE("a nack without a path is transient unless its code says invalid") {
  iotgw::WsReply r = parse("{\"error\":{\"code\":\"unavailable\",\"message\":\"storage\"},\"nack\":9}");
  CHECK(r.kind == iotgw::WsReplyKind::kNack);
  CHECK(r.seq == 9);
  CHECK_FALSE(r.has_path);
  CHECK_FALSE(iotgw::nack_is_permanent(r));
  r = parse("{\"nack\":9,\"error\":{\"code\":\"rate_limited\",\"path\":null}}");
  CHECK_FALSE(r.has_path);
  CHECK_FALSE(iotgw::nack_is_permanent(r));
  r = parse("{\"nack\":9,\"error\":{\"code\":\"invalid_json\"}}");
  CHECK(iotgw::nack_is_permanent(r));
}

TEST_CASE("other messages and garbage are not acks") {
  bool ok = true;
  CHECK(parse("{\"hello\":\"gw\"}", &ok).kind == iotgw::WsReplyKind::kOther);
  CHECK(ok);
  for (const char* s : {"", "[]", "{\"ack\":", "{\"ack\":1", "{\"ack\":1}}", "ack 1"}) {
    INFO(s);
    parse(s, &ok);
    CHECK_FALSE(ok);
  }
  // Valid JSON whose ack is not a 32-bit unsigned seq is not an ack.
  for (const char* s : {"{\"ack\":\"5\"}", "{\"ack\":-1}", "{\"ack\":99999999999}"}) {
    INFO(s);
    CHECK(parse(s, &ok).kind == iotgw::WsReplyKind::kOther);
  }
}

TEST_CASE("deeply nested junk cannot exhaust the stack") {
  const std::string deep = "{\"x\":" + std::string(5000, '[') + std::string(5000, ']') + "}";
  bool ok = true;
  parse(deep, &ok);
  CHECK_FALSE(ok);
}

TEST_CASE("a reply cut by a small receive buffer keeps the ack read before the cut") {
  const std::string full = "{\"ack\":12,\"accepted\":5,\"firmware\":{\"version\":\"0.2.0\",\"sha256\":\"" +
                           std::string(64, 'a') + "\",\"size\":1048576}}";
  for (size_t cut = std::string("{\"ack\":12,").size(); cut < full.size(); ++cut) {
    CAPTURE(cut);
    bool ok = false;
    const iotgw::WsReply r = parse(full.substr(0, cut), &ok);
    CHECK(ok);
    CHECK(r.kind == iotgw::WsReplyKind::kAck);
    CHECK(r.seq == 12);
    CHECK(r.truncated);
  }
  bool ok = false;
  CHECK_FALSE(parse(full, &ok).truncated);
  CHECK(ok);
}

TEST_CASE("a cut inside the ack number is not trusted (12 cut to 1 is not an ack of 1)") {
  bool ok = true;
  CHECK(parse("{\"ack\":1", &ok).kind == iotgw::WsReplyKind::kOther);
  CHECK_FALSE(ok);
  CHECK(parse("{\"ack\":12", &ok).kind == iotgw::WsReplyKind::kOther);
  CHECK_FALSE(ok);
  const iotgw::WsReply r = parse("{\"ack\":12 ", &ok);  // the number ended before the cut
  CHECK(ok);
  CHECK(r.kind == iotgw::WsReplyKind::kAck);
  CHECK(r.seq == 12);
}

TEST_CASE("a cut nack keeps its seq but not a half-read error: it counts as transient") {
  bool ok = false;
  const iotgw::WsReply r = parse("{\"nack\":4,\"error\":{\"code\":\"inval", &ok);
  CHECK(ok);
  CHECK(r.kind == iotgw::WsReplyKind::kNack);
  CHECK(r.seq == 4);
  CHECK(r.truncated);
  CHECK_FALSE(iotgw::nack_is_permanent(r));
}

TEST_CASE("garbage before the end is still garbage, cut or not") {
  bool ok = true;
  parse("{\"ack\":3,\"x\":]", &ok);
  CHECK_FALSE(ok);
  parse("{\"ack\":3,\"x\" 5", &ok);
  CHECK_FALSE(ok);
}

TEST_CASE("an ack carries the gateway's firmware offer") {
  const std::string sha(64, 'b');
  bool ok = false;
  const iotgw::WsReply r = parse("{\"ack\":12,\"accepted\":5,\"firmware\":{\"version\":\"0.2.0\",\"sha256\":\"" + sha +
                                     "\",\"size\":1048576,\"url\":\"/firmware/x.bin\"}}",
                                 &ok);
  CHECK(ok);
  CHECK(r.kind == iotgw::WsReplyKind::kAck);
  REQUIRE(r.has_offer);
  CHECK(std::string(r.offer.version) == "0.2.0");
  CHECK(std::string(r.offer.sha256) == sha);
  CHECK(r.offer.size == 1048576);
  CHECK(iotgw::offer_valid(r.offer, 0x1E0000));
}

TEST_CASE("a 202 body carries an offer too; null and incomplete offers are none") {
  const std::string sha(64, 'c');
  bool ok = false;
  iotgw::WsReply r = parse("{\"accepted\":5,\"duplicates\":0,\"firmware\":{\"version\":\"1.0.0\",\"sha256\":\"" + sha +
                               "\",\"size\":4}}",
                           &ok);
  CHECK(ok);
  CHECK(r.kind == iotgw::WsReplyKind::kOther);
  CHECK(r.has_offer);
  r = parse("{\"accepted\":5,\"firmware\":null}", &ok);
  CHECK(ok);
  CHECK_FALSE(r.has_offer);
  r = parse("{\"ack\":1,\"firmware\":{\"version\":\"1.0.0\",\"size\":4}}", &ok);  // no sha256
  CHECK(ok);
  CHECK_FALSE(r.has_offer);
  r = parse("{\"ack\":1,\"firmware\":{\"version\":1,\"sha256\":\"" + sha + "\",\"size\":4}}", &ok);
  CHECK_FALSE(r.has_offer);
}

TEST_CASE("a version longer than the board keeps is not cut into another valid one") {
  const std::string sha(64, 'd');
  bool ok = false;
  const iotgw::WsReply r =
      parse("{\"ack\":1,\"firmware\":{\"version\":\"1.2.3-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"sha256\":\"" + sha +
                "\",\"size\":4}}",
            &ok);
  CHECK(ok);
  CHECK_FALSE(r.has_offer);
}

TEST_CASE("an offer cut short is no offer; one read in full before the cut is") {
  const std::string sha(64, 'e');
  const std::string full = "{\"accepted\":1,\"firmware\":{\"version\":\"0.2.0\",\"sha256\":\"" + sha +
                           "\",\"size\":9},\"later\":\"" + std::string(100, 'x') + "\"}";
  const size_t offer_end = full.find(",\"later\"");
  for (size_t cut = 20; cut < full.size(); cut += 7) {
    CAPTURE(cut);
    bool ok = false;
    const iotgw::WsReply r = parse(full.substr(0, cut), &ok);
    CHECK(r.has_offer == (cut > offer_end));
    CHECK(ok == (cut > offer_end));
  }
}

TEST_CASE("offer_valid checks version, hash and size") {
  iotgw::FirmwareOffer o{};
  iotgw::copy_str(o.version, sizeof o.version, "0.2.0");
  iotgw::copy_str(o.sha256, sizeof o.sha256, std::string(64, 'a').c_str());
  o.size = 100;
  CHECK(iotgw::offer_valid(o, 100));
  CHECK_FALSE(iotgw::offer_valid(o, 99));
  o.size = 0;
  CHECK_FALSE(iotgw::offer_valid(o, 100));
}
