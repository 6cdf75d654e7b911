// The glue's WebSocket mailbox: long replies are cut, not dropped.
#include <doctest.h>

#include <string>

#include "reply_mailbox.h"
#include "ws_reply.h"

namespace {
bool put(iotgw::ReplyMailbox<2, 16>& m, const std::string& s) {
  return m.put(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
}  // namespace

TEST_CASE("messages come out in order, whole when they fit") {
  iotgw::ReplyMailbox<2, 16> m;
  CHECK(put(m, "{\"ack\":1}"));
  CHECK(put(m, "{\"ack\":2}"));
  char buf[32];
  CHECK(std::string(buf, m.take(buf, sizeof buf)) == "{\"ack\":1}");
  CHECK(std::string(buf, m.take(buf, sizeof buf)) == "{\"ack\":2}");
  CHECK(m.take(buf, sizeof buf) == 0);
  CHECK(m.truncated() == 0);
}

TEST_CASE("a message longer than a slot is kept cut to the slot, and its ack still parses") {
  iotgw::ReplyMailbox<2, 16> m;
  const std::string long_ack = "{\"ack\":42,\"accepted\":5,\"firmware\":{\"version\":\"0.2.0\"}}";
  CHECK(put(m, long_ack));
  CHECK(m.truncated() == 1);
  char buf[64];
  const size_t n = m.take(buf, sizeof buf);
  CHECK(n == 16);
  iotgw::WsReply r;
  CHECK(iotgw::parse_ws_reply(buf, n, &r));
  CHECK(r.kind == iotgw::WsReplyKind::kAck);
  CHECK(r.seq == 42);
}

TEST_CASE("only a full mailbox drops, and counts it") {
  iotgw::ReplyMailbox<2, 16> m;
  CHECK(put(m, "a"));
  CHECK(put(m, "b"));
  CHECK_FALSE(put(m, "c"));
  CHECK(m.dropped() == 1);
  char buf[4];
  CHECK(m.take(buf, sizeof buf) == 1);
  CHECK(put(m, "d"));  // room again
  CHECK(m.count() == 2);
}

TEST_CASE("take copies at most cap bytes") {
  iotgw::ReplyMailbox<1, 16> m;
  const std::string s = "0123456789";
  m.put(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  char buf[4];
  CHECK(m.take(buf, sizeof buf) == 4);
  CHECK(std::string(buf, 4) == "0123");
}
