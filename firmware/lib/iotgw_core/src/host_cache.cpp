#include "host_cache.h"

#include <string.h>

#include "identity.h"

namespace iotgw {

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
