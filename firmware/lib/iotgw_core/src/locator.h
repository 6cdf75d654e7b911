// Decides which gateway endpoint to use and when to look again.
//
// Order of preference: a fresh mDNS answer, then the last mDNS answer (multicast is lossy on
// Wi-Fi, so one silent query must not strand a board), then the site's fallback host. The
// current endpoint is given up, and mDNS asked again, after `max_failures` consecutive failures
// or when the gateway looks restarted (its WebSocket closed under us): a gateway that came back
// on a new DHCP address is found without anyone typing an IP. When nothing answers and the
// current endpoint is exhausted, the locator alternates between the cached answer and the
// fallback, so neither can starve the other.
//
// The locator performs no I/O: the uplink asks needs_discovery(), runs the mDNS query through
// its DiscoveryPort, and hands the result to on_discovery().
#pragma once

#include <stdint.h>

#include "endpoint.h"

namespace iotgw {

struct LocatorConfig {
  const char* fallback_host;  // "" or nullptr: none configured
  uint16_t fallback_port;
  uint8_t max_failures;       // consecutive failures before rediscovery, >= 1
  uint32_t refresh_ms;        // re-query mDNS this often even when healthy; 0 = never
};

class Locator {
 public:
  explicit Locator(const LocatorConfig& cfg);

  bool needs_discovery(uint64_t now_ms) const;
  // `found` is the first gateway that answered, or nullptr when none did.
  void on_discovery(uint64_t now_ms, const Endpoint* found);

  const Endpoint* current() const { return source_ == EndpointSource::kNone ? nullptr : &current_; }
  EndpointSource source() const { return source_; }
  // Bumped whenever the endpoint changes, so the uplink drops connections to the old one.
  uint32_t generation() const { return generation_; }
  uint32_t consecutive_failures() const { return failures_; }

  void report_success() { failures_ = 0; }
  void report_failure();
  void report_gateway_restart() { restart_suspected_ = true; }

 private:
  void use(const Endpoint& ep, EndpointSource src);

  Endpoint fallback_;
  bool has_fallback_;
  uint8_t max_failures_;
  uint32_t refresh_ms_;

  Endpoint cache_;
  bool has_cache_ = false;
  Endpoint current_;
  EndpointSource source_ = EndpointSource::kNone;
  uint32_t failures_ = 0;
  bool restart_suspected_ = false;
  bool discovered_once_ = false;
  uint64_t last_discovery_ms_ = 0;
  uint32_t generation_ = 0;
};

}  // namespace iotgw
