// Where the gateway is, as learned from mDNS (`_iotgw._tcp`) or the site's fallback setting.
#pragma once

#include <stdint.h>

namespace iotgw {

struct Endpoint {
  char host[64];        // IPv4 text from mDNS, or the configured fallback name/IP
  uint16_t port;
  char path[32];        // TXT path=, "/telemetry" by default
  char ws_path[32];     // TXT ws=; empty: the gateway did not advertise WebSocket intake
  bool auth_required;   // TXT auth=1
  char gateway_id[65];  // TXT id=
};

enum class EndpointSource : uint8_t { kNone, kMdns, kCache, kFallback };

// An endpoint with the contract's defaults (path /telemetry, no WS, no auth).
void endpoint_init(Endpoint& ep, const char* host, uint16_t port);

// Applies one TXT record of the gateway's announcement; unknown keys are ignored.
void endpoint_apply_txt(Endpoint& ep, const char* key, const char* value);

}  // namespace iotgw
