// Remembers what a gateway host name resolved to, so DNS is asked once per TTL, not per request.
//
// Why: on the ESP32 core 2.0.x, WiFiGenericClass::hostByName waits up to 15 s for an answer, and
// HTTPClient resolves the host on every connect. A fallback gateway given by name (site.ini
// gateway_host) therefore blocked the loop for 15 s per attempt whenever DNS was slow or down.
// A failed lookup is remembered too (for a shorter time), so a dead DNS server costs one 15 s
// wait per negative_ttl, and the uplink's backoff runs on fast failures in between.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "num_format.h"

namespace iotgw {

class HostCache {
 public:
  HostCache(uint32_t ttl_ms, uint32_t negative_ttl_ms) : ttl_ms_(ttl_ms), negative_ttl_ms_(negative_ttl_ms) {}

  // True when `name` must be looked up now: it is a name (not an IPv4 literal) with no fresh
  // answer, positive or negative, cached for it.
  bool needs_lookup(uint64_t now_ms, const char* name) const;
  // Records a lookup's result; ipv4 == 0 means it failed.
  void store(uint64_t now_ms, const char* name, uint32_t ipv4);
  // The address to connect to: the literal itself, or the cached answer; 0 when unknown or failed.
  uint32_t address(const char* name) const;

 private:
  bool holds(const char* name) const;

  uint32_t ttl_ms_;
  uint32_t negative_ttl_ms_;
  char name_[64] = {};
  uint32_t ipv4_ = 0;
  uint64_t at_ms_ = 0;
  bool valid_ = false;
};

}  // namespace iotgw
