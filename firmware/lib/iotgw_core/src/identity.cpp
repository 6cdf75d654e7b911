#include "identity.h"

#include <string.h>

#include "num_format.h"
#include "telemetry.h"

namespace iotgw {

namespace {
const char kHex[] = "0123456789abcdef";

bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}
}  // namespace

bool copy_str(char* out, size_t cap, const char* in) {
  if (cap == 0) return false;
  if (in == nullptr) in = "";
  size_t i = 0;
  for (; in[i] != '\0' && i + 1 < cap; ++i) out[i] = in[i];
  out[i] = '\0';
  return in[i] == '\0';
}

bool device_id_from_mac(char* out, size_t cap, const uint8_t mac[6]) {
  static const char kPrefix[] = "esp32-";
  const size_t plen = sizeof kPrefix - 1;
  if (cap < plen + 12 + 1) return false;
  memcpy(out, kPrefix, plen);
  for (int i = 0; i < 6; ++i) {
    out[plen + 2 * i] = kHex[mac[i] >> 4];
    out[plen + 2 * i + 1] = kHex[mac[i] & 0xF];
  }
  out[plen + 12] = '\0';
  return true;
}

bool group_from_ip(char* out, size_t cap, uint32_t ip) {
  if (cap < 20) return false;  // "net-255-255-255-255" + NUL
  size_t len = 0;
  memcpy(out, "net-", 4);
  len = 4;
  for (int i = 3; i >= 0; --i) {
    len += format_uint(out + len, cap - len, (ip >> (8 * i)) & 0xFFu);
    if (i > 0) out[len++] = '-';
  }
  out[len] = '\0';
  return true;
}

bool boot_id_from_random(char* out, size_t cap, uint32_t r1, uint32_t r2) {
  if (cap < 17) return false;
  const uint32_t words[2] = {r1, r2};
  for (int w = 0; w < 2; ++w) {
    for (int i = 0; i < 8; ++i) out[w * 8 + i] = kHex[(words[w] >> (28 - 4 * i)) & 0xF];
  }
  out[16] = '\0';
  return true;
}

bool is_valid_id(const char* s) {
  if (s == nullptr) return false;
  size_t n = 0;
  for (; s[n] != '\0'; ++n) {
    if (n >= kIdMax || !id_char(s[n])) return false;
  }
  return n > 0;
}

bool sanitize_id(char* out, size_t cap, const char* in) {
  if (cap == 0) return false;
  out[0] = '\0';
  if (in == nullptr) return false;
  size_t n = 0;
  bool any_real = false;
  for (size_t i = 0; in[i] != '\0' && n < kIdMax && n + 1 < cap; ++i) {
    const bool ok = id_char(in[i]);
    out[n++] = ok ? in[i] : '-';
    any_real = any_real || ok;
  }
  out[n] = '\0';
  if (!any_real) {
    out[0] = '\0';
    return false;
  }
  return true;
}

}  // namespace iotgw
