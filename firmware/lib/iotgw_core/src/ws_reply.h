// Reads the gateway's replies: WebSocket {"ack": m} or {"nack": m, "error": {code, message,
// path}}, and in both those and HTTP 202 bodies the OTA offer {"firmware": {...}}.
//
// A tiny scanner rather than a JSON library: it needs a few keys, must not allocate, and has to
// shrug off anything else the gateway might add later (unknown keys and messages are ignored).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "firmware_offer.h"

namespace iotgw {

enum class WsReplyKind : uint8_t { kOther, kAck, kNack };

struct WsReply {
  WsReplyKind kind;
  uint32_t seq;
  char code[40];     // error.code of a nack, "" otherwise
  bool has_path;     // error.path present: the gateway blames a field of a reading
  bool truncated;    // the text ended before the object did (see parse_ws_reply)
  bool has_offer;    // "firmware" was an object with version, sha256 and size, read in full
  FirmwareOffer offer;
};

// Returns false for text that is not a JSON object; kind is kOther for objects without ack/nack.
// A reply cut short by a receive buffer (text that ends inside the object) still counts for the
// members read in full before the cut: the gateway writes "ack"/"nack" first, so a long ack is
// not lost. A number that runs into the end of the text is not trusted ("12" cut to "1").
bool parse_ws_reply(const char* msg, size_t len, WsReply* out);

// A nack that names a field (error.path) or whose code says "invalid..." will fail again on
// every retry: such readings are rejected and dropped. Anything else (rate limits, storage
// unavailable, auth) is transient: keep the readings and back off.
bool nack_is_permanent(const WsReply& r);

}  // namespace iotgw
