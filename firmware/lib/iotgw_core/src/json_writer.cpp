#include "json_writer.h"

#include <string.h>

#include "num_format.h"

namespace iotgw {

JsonWriter::JsonWriter(char* buf, size_t cap) : buf_(buf), cap_(cap), ok_(buf != nullptr && cap > 0) {
  if (ok_) buf_[0] = '\0';
}

void JsonWriter::put(char c) {
  if (!ok_) return;
  if (len_ + 1 >= cap_) {  // keep one byte for the NUL
    ok_ = false;
    return;
  }
  buf_[len_++] = c;
}

void JsonWriter::put_raw(const char* s, size_t n) {
  if (!ok_) return;
  if (len_ + n >= cap_) {
    ok_ = false;
    return;
  }
  memcpy(buf_ + len_, s, n);
  len_ += n;
}

void JsonWriter::before_value() {
  if (after_key_) {  // the key already placed the comma
    after_key_ = false;
    return;
  }
  if (depth_ == 0) return;
  const uint32_t bit = 1u << depth_;
  if (first_bits_ & bit) {
    first_bits_ &= ~bit;
  } else {
    put(',');
  }
}

void JsonWriter::push(char open) {
  before_value();
  if (depth_ + 1 >= kMaxDepth) {
    ok_ = false;
    return;
  }
  put(open);
  ++depth_;
  first_bits_ |= 1u << depth_;
}

void JsonWriter::pop(char close) {
  if (depth_ <= 0 || after_key_) {  // unbalanced, or a key without a value
    ok_ = false;
    return;
  }
  first_bits_ &= ~(1u << depth_);
  --depth_;
  put(close);
}

void JsonWriter::begin_object() { push('{'); }
void JsonWriter::end_object() { pop('}'); }
void JsonWriter::begin_array() { push('['); }
void JsonWriter::end_array() { pop(']'); }

void JsonWriter::key(const char* k) {
  before_value();
  put_escaped(k);
  put(':');
  after_key_ = true;
}

// Length of a valid UTF-8 sequence starting at s, or 0 if the bytes there are not one.
static size_t utf8_sequence_length(const unsigned char* s) {
  const unsigned char c = s[0];
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1Fu;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0Fu;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07u;
  } else {
    return 0;
  }
  for (size_t i = 1; i < n; ++i) {
    if ((s[i] & 0xC0u) != 0x80u) return 0;  // also stops at the NUL terminator
    cp = (cp << 6) | (s[i] & 0x3Fu);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;  // overlong
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;  // surrogates are not characters
  return n;
}

void JsonWriter::put_escaped(const char* s) {
  put('"');
  static const char kHex[] = "0123456789abcdef";
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s != nullptr ? s : "");
  while (*p != 0 && ok_) {
    const unsigned char c = *p;
    if (c == '"' || c == '\\') {
      put('\\');
      put(static_cast<char>(c));
      ++p;
    } else if (c < 0x20) {
      switch (c) {
        case '\n': put_raw("\\n", 2); break;
        case '\r': put_raw("\\r", 2); break;
        case '\t': put_raw("\\t", 2); break;
        case '\b': put_raw("\\b", 2); break;
        case '\f': put_raw("\\f", 2); break;
        default: {
          const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          put_raw(esc, sizeof esc);
        }
      }
      ++p;
    } else if (c < 0x80) {
      put(static_cast<char>(c));
      ++p;
    } else {
      // Sensor strings and Wi-Fi names can hold arbitrary bytes; invalid UTF-8 would make the
      // whole document unparsable, so such bytes become U+FFFD.
      const size_t n = utf8_sequence_length(p);
      if (n == 0) {
        put_raw("\\ufffd", 6);
        ++p;
      } else {
        put_raw(reinterpret_cast<const char*>(p), n);
        p += n;
      }
    }
  }
  put('"');
}

void JsonWriter::value_string(const char* s) {
  before_value();
  put_escaped(s);
}

void JsonWriter::value_uint(uint64_t v) {
  before_value();
  char tmp[24];
  const size_t n = format_uint(tmp, sizeof tmp, v);
  put_raw(tmp, n);
}

void JsonWriter::value_int(int64_t v) {
  before_value();
  char tmp[24];
  const size_t n = format_int(tmp, sizeof tmp, v);
  put_raw(tmp, n);
}

void JsonWriter::value_double(double v, int decimals) {
  char tmp[32];
  const size_t n = format_double(tmp, sizeof tmp, v, decimals);
  if (n == 0) {
    value_null();
    return;
  }
  before_value();
  put_raw(tmp, n);
}

void JsonWriter::value_bool(bool v) {
  before_value();
  if (v) {
    put_raw("true", 4);
  } else {
    put_raw("false", 5);
  }
}

void JsonWriter::value_null() {
  before_value();
  put_raw("null", 4);
}

void JsonWriter::rollback(const Mark& m) {
  if (buf_ == nullptr || cap_ == 0 || m.len >= cap_) return;
  len_ = m.len;
  depth_ = m.depth;
  first_bits_ = m.first_bits;
  after_key_ = false;
  ok_ = true;
  buf_[len_] = '\0';
}

size_t JsonWriter::finish() {
  if (!ok_ || depth_ != 0 || after_key_ || len_ == 0) {
    ok_ = false;
    if (buf_ != nullptr && cap_ > 0) buf_[0] = '\0';
    return 0;
  }
  buf_[len_] = '\0';
  return len_;
}

}  // namespace iotgw
