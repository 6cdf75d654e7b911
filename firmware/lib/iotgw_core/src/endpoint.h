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

// One answer of an mDNS browse for _iotgw._tcp, as the responder returned it.
struct MdnsAnswer {
  uint32_t ipv4;  // host order; 0 when the answer came without an A record
  uint16_t port;  // 0 when it came without an SRV record
};

// Index of the first answer a board can connect to (non-zero address and port), or -1.
// ESPmDNS's IP(i) is 0.0.0.0 for a result without an A record and port(i) is 0 without SRV;
// taking answer 0 blindly made the locator "find" 0.0.0.0 and never try the fallback host.
int first_usable_answer(const MdnsAnswer* answers, int count);

}  // namespace iotgw
