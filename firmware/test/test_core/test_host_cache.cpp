// DNS answers for a fallback host given by name are cached (a lookup blocks up to 15 s).
#include <doctest.h>

#include <initializer_list>
#include <string>

#include "host_cache.h"

TEST_CASE("parse_ipv4 takes dotted quads only") {
  uint32_t ip = 0;
  CHECK(iotgw::parse_ipv4("192.168.1.10", &ip));
  CHECK(ip == 0xC0A8010Au);
  CHECK(iotgw::parse_ipv4("0.0.0.0", &ip));
  CHECK(ip == 0);
  for (const char* bad : {"", "gw.lan", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", "01234.1.1.1", "::1", "1..2.3"}) {
    CAPTURE(bad);
    CHECK_FALSE(iotgw::parse_ipv4(bad, &ip));
  }
  CHECK_FALSE(iotgw::parse_ipv4(nullptr, &ip));
}

TEST_CASE("format_ipv4 writes dotted quads and round-trips with parse_ipv4") {
  char buf[16];
  CHECK(iotgw::format_ipv4(buf, sizeof buf, 0xC0A8010Au) == 12);
  CHECK(std::string(buf) == "192.168.1.10");
  CHECK(iotgw::format_ipv4(buf, sizeof buf, 0xFFFFFFFFu) == 15);
  uint32_t back = 0;
  CHECK(iotgw::parse_ipv4(buf, &back));
  CHECK(back == 0xFFFFFFFFu);
  CHECK(iotgw::format_ipv4(buf, 15, 1) == 0);  // needs room for 255.255.255.255
}

TEST_CASE("an IPv4 literal is never looked up") {
  iotgw::HostCache c(600000, 60000);
  CHECK_FALSE(c.needs_lookup(0, "10.0.0.9"));
  CHECK(c.address("10.0.0.9") == 0x0A000009u);
}

TEST_CASE("a name is looked up once per TTL") {
  iotgw::HostCache c(600000, 60000);
  CHECK(c.needs_lookup(0, "gw.site.lan"));
  CHECK(c.address("gw.site.lan") == 0);
  c.store(1000, "gw.site.lan", 0x0A000009u);
  CHECK_FALSE(c.needs_lookup(2000, "gw.site.lan"));
  CHECK_FALSE(c.needs_lookup(600999, "gw.site.lan"));
  CHECK(c.needs_lookup(601000, "gw.site.lan"));
  CHECK(c.address("gw.site.lan") == 0x0A000009u);  // still usable while the next lookup is due
}

TEST_CASE("a failed lookup is remembered for the shorter negative TTL") {
  iotgw::HostCache c(600000, 60000);
  c.store(0, "gw.site.lan", 0);
  CHECK_FALSE(c.needs_lookup(59999, "gw.site.lan"));
  CHECK(c.address("gw.site.lan") == 0);
  CHECK(c.needs_lookup(60000, "gw.site.lan"));
}

TEST_CASE("another name is not served from the cache") {
  iotgw::HostCache c(600000, 60000);
  c.store(0, "gw.site.lan", 0x0A000009u);
  CHECK(c.needs_lookup(1, "other.site.lan"));
  CHECK(c.address("other.site.lan") == 0);
}

TEST_CASE("an empty host needs no lookup and has no address") {
  iotgw::HostCache c(600000, 60000);
  CHECK_FALSE(c.needs_lookup(0, ""));
  CHECK(c.address("") == 0);
}
