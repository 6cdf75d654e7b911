// Gateway locator: mDNS first, cache, fallback, rediscovery.
#include <doctest.h>

#include <string>

#include "fakes.h"
#include "locator.h"

using iotgw::EndpointSource;

namespace {
iotgw::LocatorConfig cfg(const char* fallback, uint8_t max_failures = 3, uint32_t refresh_ms = 0) {
  return iotgw::LocatorConfig{fallback, 3000, max_failures, refresh_ms};
}
void fail(iotgw::Locator& l, int n) {
  for (int i = 0; i < n; ++i) l.report_failure();
}
}  // namespace

TEST_CASE("before any query the locator asks for discovery and has no endpoint") {
  iotgw::Locator l(cfg(""));
  CHECK(l.current() == nullptr);
  CHECK(l.needs_discovery(0));
}

TEST_CASE("an mDNS answer is used with its TXT settings") {
  iotgw::Locator l(cfg("10.0.0.9"));
  iotgw::Endpoint ep = fakes::gateway("192.168.1.10", true);
  iotgw::endpoint_apply_txt(ep, "auth", "1");
  iotgw::endpoint_apply_txt(ep, "path", "/telemetry");
  l.on_discovery(5, &ep);
  REQUIRE(l.current() != nullptr);
  CHECK(l.source() == EndpointSource::kMdns);
  CHECK(std::string(l.current()->host) == "192.168.1.10");
  CHECK(std::string(l.current()->ws_path) == "/ws");
  CHECK(l.current()->auth_required);
  CHECK_FALSE(l.needs_discovery(6));
}

TEST_CASE("no mDNS answer falls back to the configured host, HTTP only") {
  iotgw::Locator l(cfg("gw.example.lan"));
  l.on_discovery(0, nullptr);
  REQUIRE(l.current() != nullptr);
  CHECK(l.source() == EndpointSource::kFallback);
  CHECK(std::string(l.current()->host) == "gw.example.lan");
  CHECK(l.current()->port == 3000);
  CHECK(std::string(l.current()->path) == "/telemetry");
  CHECK(l.current()->ws_path[0] == '\0');
}

TEST_CASE("no answer and no fallback: nothing to use, keep asking") {
  iotgw::Locator l(cfg(nullptr));
  l.on_discovery(0, nullptr);
  CHECK(l.current() == nullptr);
  CHECK(l.needs_discovery(1));
}

TEST_CASE("N consecutive failures trigger rediscovery; a success in between resets the count") {
  iotgw::Locator l(cfg("", 3));
  const iotgw::Endpoint ep = fakes::gateway();
  l.on_discovery(0, &ep);
  fail(l, 2);
  l.report_success();
  fail(l, 2);
  CHECK_FALSE(l.needs_discovery(1));
  l.report_failure();
  CHECK(l.needs_discovery(1));
  // The gateway came back at a new address (DHCP): the new answer replaces the old.
  const iotgw::Endpoint moved = fakes::gateway("192.168.1.77");
  const uint32_t gen = l.generation();
  l.on_discovery(2, &moved);
  CHECK(std::string(l.current()->host) == "192.168.1.77");
  CHECK(l.generation() != gen);
  CHECK_FALSE(l.needs_discovery(3));
}

TEST_CASE("silent rediscovery alternates between the cached answer and the fallback") {
  iotgw::Locator l(cfg("10.0.0.9", 2));
  const iotgw::Endpoint ep = fakes::gateway();
  l.on_discovery(0, &ep);
  fail(l, 2);
  l.on_discovery(1, nullptr);
  CHECK(l.source() == EndpointSource::kFallback);
  fail(l, 2);
  l.on_discovery(2, nullptr);
  CHECK(l.source() == EndpointSource::kCache);
  CHECK(std::string(l.current()->host) == "192.168.1.10");
  fail(l, 2);
  l.on_discovery(3, nullptr);
  CHECK(l.source() == EndpointSource::kFallback);
}

TEST_CASE("without a fallback the cached answer is kept and retried") {
  iotgw::Locator l(cfg("", 1));
  const iotgw::Endpoint ep = fakes::gateway();
  l.on_discovery(0, &ep);
  l.report_failure();
  REQUIRE(l.needs_discovery(1));
  l.on_discovery(1, nullptr);
  CHECK(l.source() == EndpointSource::kCache);
  CHECK(l.consecutive_failures() == 0);
  CHECK_FALSE(l.needs_discovery(2));
}

TEST_CASE("a suspected gateway restart asks mDNS again without dropping a healthy endpoint") {
  iotgw::Locator l(cfg("", 5));
  const iotgw::Endpoint ep = fakes::gateway();
  l.on_discovery(0, &ep);
  const uint32_t gen = l.generation();
  l.report_gateway_restart();
  CHECK(l.needs_discovery(1));
  l.on_discovery(1, nullptr);
  CHECK_FALSE(l.needs_discovery(2));
  CHECK(std::string(l.current()->host) == "192.168.1.10");
  l.on_discovery(3, &ep);  // same answer again: same generation, connections may stay
  CHECK(l.generation() == gen);
}

TEST_CASE("a refresh interval re-queries a healthy gateway periodically") {
  iotgw::Locator l(cfg("", 3, 60000));
  const iotgw::Endpoint ep = fakes::gateway();
  l.on_discovery(1000, &ep);
  CHECK_FALSE(l.needs_discovery(60999));
  CHECK(l.needs_discovery(61000));
}

TEST_CASE("TXT records: bad paths are ignored, unknown keys too") {
  iotgw::Endpoint ep;
  iotgw::endpoint_init(ep, "10.1.1.1", 3000);
  iotgw::endpoint_apply_txt(ep, "path", "no-slash");
  iotgw::endpoint_apply_txt(ep, "v", "0.1.0");
  iotgw::endpoint_apply_txt(ep, "auth", "0");
  CHECK(std::string(ep.path) == "/telemetry");
  CHECK_FALSE(ep.auth_required);
  CHECK(ep.ws_path[0] == '\0');
}

TEST_CASE("mDNS: the first answer with both an address and a port is taken") {
  const iotgw::MdnsAnswer answers[] = {{0, 3000}, {0xC0A8010Au, 0}, {0xC0A8010Bu, 3000}, {0xC0A8010Cu, 3001}};
  CHECK(iotgw::first_usable_answer(answers, 4) == 2);
  CHECK(iotgw::first_usable_answer(answers, 2) == -1);  // only half answers: none usable
  CHECK(iotgw::first_usable_answer(answers, 0) == -1);
  CHECK(iotgw::first_usable_answer(nullptr, 3) == -1);
}
