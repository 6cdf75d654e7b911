#include "locator.h"

#include <string.h>

namespace iotgw {

namespace {
bool same_endpoint(const Endpoint& a, const Endpoint& b) {
  return a.port == b.port && a.auth_required == b.auth_required && strcmp(a.host, b.host) == 0 &&
         strcmp(a.path, b.path) == 0 && strcmp(a.ws_path, b.ws_path) == 0 &&
         strcmp(a.gateway_id, b.gateway_id) == 0;
}
}  // namespace

Locator::Locator(const LocatorConfig& cfg)
    : has_fallback_(cfg.fallback_host != nullptr && cfg.fallback_host[0] != '\0' && cfg.fallback_port != 0),
      max_failures_(cfg.max_failures > 0 ? cfg.max_failures : 1),
      refresh_ms_(cfg.refresh_ms) {
  // The fallback is a plain host:port: it advertises nothing, so it gets HTTP only.
  endpoint_init(fallback_, has_fallback_ ? cfg.fallback_host : "", cfg.fallback_port);
  endpoint_init(cache_, "", 0);
  endpoint_init(current_, "", 0);
}

bool Locator::needs_discovery(uint64_t now_ms) const {
  if (source_ == EndpointSource::kNone || !discovered_once_) return true;
  if (failures_ >= max_failures_ || restart_suspected_) return true;
  return refresh_ms_ > 0 && now_ms - last_discovery_ms_ >= refresh_ms_;
}

void Locator::report_failure() {
  if (failures_ < 0xFFFFFFFFu) ++failures_;
}

void Locator::use(const Endpoint& ep, EndpointSource src) {
  if (source_ == EndpointSource::kNone || !same_endpoint(ep, current_)) ++generation_;
  current_ = ep;
  source_ = src;
}

void Locator::on_discovery(uint64_t now_ms, const Endpoint* found) {
  const bool exhausted = source_ != EndpointSource::kNone && failures_ >= max_failures_;
  discovered_once_ = true;
  last_discovery_ms_ = now_ms;
  restart_suspected_ = false;

  if (found != nullptr) {
    cache_ = *found;
    has_cache_ = true;
    use(cache_, EndpointSource::kMdns);
    failures_ = 0;
    return;
  }

  // Nobody answered. Keep a healthy endpoint; otherwise pick between cache and fallback.
  if (source_ != EndpointSource::kNone && !exhausted) return;
  const bool on_fallback = source_ == EndpointSource::kFallback;
  const bool on_cache = source_ == EndpointSource::kMdns || source_ == EndpointSource::kCache;
  if (has_cache_ && (!exhausted || on_fallback || !has_fallback_)) {
    use(cache_, EndpointSource::kCache);
  } else if (has_fallback_ && (!exhausted || on_cache || !has_cache_)) {
    use(fallback_, EndpointSource::kFallback);
  }
  // Whatever we chose (possibly the same endpoint again) gets a fresh run of attempts.
  failures_ = 0;
}

}  // namespace iotgw
