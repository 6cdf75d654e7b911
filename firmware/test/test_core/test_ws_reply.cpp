// Parsing the gateway's WebSocket acks and nacks.
#include <doctest.h>

#include <string>

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
