#include "host_cache.h"

#include <string.h>

#include "identity.h"
#include "num_format.h"

namespace iotgw {

bool parse_ipv4(const char* s, uint32_t* out) {
  if (s == nullptr) return false;
  uint32_t ip = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0 && *s++ != '.') return false;
    if (*s < '0' || *s > '9') return false;
    uint32_t v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
      v = v * 10 + static_cast<uint32_t>(*s++ - '0');
      if (++digits > 3 || v > 255) return false;
    }
    ip = (ip << 8) | v;
  }
  if (*s != '\0') return false;
  *out = ip;
  return true;
}

size_t format_ipv4(char* out, size_t cap, uint32_t ipv4) {
  if (out == nullptr || cap < 16) return 0;
  size_t len = 0;
  for (int i = 3; i >= 0; --i) {
    len += format_uint(out + len, cap - len, (ipv4 >> (8 * i)) & 0xFFu);
    if (i > 0) out[len++] = '.';
  }
  out[len] = '\0';
  return len;
}

bool HostCache::holds(const char* name) const {
  return valid_ && name != nullptr && strcmp(name, name_) == 0;
}

bool HostCache::needs_lookup(uint64_t now_ms, const char* name) const {
  uint32_t literal;
  if (name == nullptr || name[0] == '\0' || parse_ipv4(name, &literal)) return false;
  if (!holds(name)) return true;
  const uint64_t ttl = ipv4_ != 0 ? ttl_ms_ : negative_ttl_ms_;
  return now_ms - at_ms_ >= ttl;
}

void HostCache::store(uint64_t now_ms, const char* name, uint32_t ipv4) {
  valid_ = copy_str(name_, sizeof name_, name);  // a name too long to keep is never "cached"
  ipv4_ = ipv4;
  at_ms_ = now_ms;
}

uint32_t HostCache::address(const char* name) const {
  uint32_t literal;
  if (parse_ipv4(name, &literal)) return literal;
  return holds(name) ? ipv4_ : 0;
}

}  // namespace iotgw
