#include "ws_reply.h"

#include <string.h>

#include "sha256.h"
#include "version.h"

namespace iotgw {

namespace {

class Scanner {
 public:
  Scanner(const char* s, size_t n) : p_(s), end_(s + n) {}

  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool eat(char c) {
    ws();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    ws();
    return p_ < end_ && *p_ == c;
  }
  bool peek_digit() {
    ws();
    return p_ < end_ && *p_ >= '0' && *p_ <= '9';
  }

  // Reads a string into out (truncated to cap-1, escapes kept as the escaped char); *fit tells
  // whether all of it fitted.
  bool string(char* out, size_t cap, bool* fit = nullptr) {
    if (fit != nullptr) *fit = true;
    if (!eat('"')) return false;
    size_t n = 0;
    while (p_ < end_ && *p_ != '"') {
      char c = *p_++;
      if (c == '\\') {
        if (p_ >= end_) return false;
        c = *p_++;
        if (c == 'u') {  // keep it simple: skip the 4 hex digits, store '?'
          if (end_ - p_ < 4) return false;
          p_ += 4;
          c = '?';
        }
      }
      if (out != nullptr && n + 1 < cap) {
        out[n++] = c;
      } else if (fit != nullptr) {
        *fit = false;
      }
    }
    if (out != nullptr && cap > 0) out[n] = '\0';
    return eat('"');
  }

  // Non-negative integer that fits 32 bits.
  bool uint32(uint32_t* v) {
    ws();
    uint64_t acc = 0;
    const char* start = p_;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
      acc = acc * 10 + static_cast<uint64_t>(*p_ - '0');
      if (acc > 0xFFFFFFFFull) return false;
      ++p_;
    }
    // No digits, or digits that run into the end of the text: a cut number is not a number.
    if (p_ == start || p_ == end_) return false;
    *v = static_cast<uint32_t>(acc);
    return true;
  }

  // Skips any JSON value; depth-limited so hostile input cannot recurse us off the stack.
  bool skip_value(int depth = 0) {
    if (depth > 16) return false;
    ws();
    if (p_ >= end_) return false;
    const char c = *p_;
    if (c == '"') return string(nullptr, 0);
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++p_;
      if (eat(close)) return true;
      do {
        if (c == '{' && (!string(nullptr, 0) || !eat(':'))) return false;
        if (!skip_value(depth + 1)) return false;
      } while (eat(','));
      return eat(close);
    }
    // number, true, false, null: run of literal characters
    const char* start = p_;
    while (p_ < end_ && (strchr("+-.0123456789eEtrufalsn", *p_) != nullptr)) ++p_;
    return p_ > start;
  }

  bool at_end() {
    ws();
    return p_ == end_;
  }
  // True when the text ran out (rather than held something unexpected).
  bool exhausted() const { return p_ >= end_; }

 private:
  const char* p_;
  const char* end_;
};

bool parse_error_object(Scanner& s, WsReply* out) {
  if (!s.eat('{')) return s.skip_value();
  if (s.eat('}')) return true;
  do {
    char key[16];
    if (!s.string(key, sizeof key) || !s.eat(':')) return false;
    if (strcmp(key, "code") == 0 && s.peek('"')) {
      if (!s.string(out->code, sizeof out->code)) return false;
    } else if (strcmp(key, "path") == 0) {
      out->has_path = !s.peek('n');  // "path": null counts as absent
      if (!s.skip_value()) return false;
    } else if (!s.skip_value()) {
      return false;
    }
  } while (s.eat(','));
  return s.eat('}');
}

// "firmware": null, or {"version": "...", "sha256": "...", "size": n} (other keys ignored).
bool parse_offer_object(Scanner& s, WsReply* out) {
  if (!s.peek('{')) return s.skip_value();
  s.eat('{');
  FirmwareOffer o = {};
  bool have_version = false, have_sha = false, have_size = false;
  if (!s.eat('}')) {
    do {
      char key[16];
      if (!s.string(key, sizeof key) || !s.eat(':')) return false;
      bool ok;
      bool fit = true;
      if (strcmp(key, "version") == 0 && s.peek('"')) {
        ok = s.string(o.version, sizeof o.version, &fit);
        have_version = ok && fit;  // a longer version cut short could be another valid one
      } else if (strcmp(key, "sha256") == 0 && s.peek('"')) {
        ok = s.string(o.sha256, sizeof o.sha256, &fit);
        have_sha = ok && fit;
      } else if (strcmp(key, "size") == 0 && s.peek_digit()) {
        ok = have_size = s.uint32(&o.size);
      } else {
        ok = s.skip_value();
      }
      if (!ok) return false;
    } while (s.eat(','));
    if (!s.eat('}')) return false;
  }
  if (have_version && have_sha && have_size) {
    out->offer = o;
    out->has_offer = true;
  }
  return true;
}

// The text ended inside the object: keep an ack/nack or offer read in full before the cut.
// Anything else (a syntax error before the end, or nothing useful read) is not a reply.
bool cut_short(const Scanner& s, WsReply* out) {
  if (!s.exhausted() || (out->kind == WsReplyKind::kOther && !out->has_offer)) {
    out->kind = WsReplyKind::kOther;
    out->has_offer = false;
    return false;
  }
  out->truncated = true;
  return true;
}

}  // namespace

bool parse_ws_reply(const char* msg, size_t len, WsReply* out) {
  out->kind = WsReplyKind::kOther;
  out->seq = 0;
  out->code[0] = '\0';
  out->has_path = false;
  out->truncated = false;
  out->has_offer = false;
  if (msg == nullptr) return false;
  Scanner s(msg, len);
  if (!s.eat('{')) return false;
  if (!s.eat('}')) {
    do {
      char key[16];
      if (!s.string(key, sizeof key) || !s.eat(':')) return cut_short(s, out);
      uint32_t v = 0;
      bool ok = true;
      if (strcmp(key, "ack") == 0 && s.peek_digit()) {
        ok = s.uint32(&v);
        if (ok) {
          out->kind = WsReplyKind::kAck;
          out->seq = v;
        }
      } else if (strcmp(key, "nack") == 0 && s.peek_digit()) {
        ok = s.uint32(&v);
        if (ok) {
          out->kind = WsReplyKind::kNack;
          out->seq = v;
        }
      } else if (strcmp(key, "error") == 0) {
        ok = parse_error_object(s, out);
      } else if (strcmp(key, "firmware") == 0) {
        ok = parse_offer_object(s, out);
      } else {
        ok = s.skip_value();
      }
      if (!ok) return cut_short(s, out);
    } while (s.eat(','));
    if (!s.eat('}')) return cut_short(s, out);
  }
  if (!s.at_end()) {
    out->kind = WsReplyKind::kOther;
    out->has_offer = false;
    return false;
  }
  return true;
}

bool offer_valid(const FirmwareOffer& o, uint32_t max_size) {
  return valid_version(o.version) && is_sha256_hex(o.sha256) && o.size > 0 && o.size <= max_size;
}

bool nack_is_permanent(const WsReply& r) {
  return r.has_path || strncmp(r.code, "invalid", 7) == 0;
}

}  // namespace iotgw
