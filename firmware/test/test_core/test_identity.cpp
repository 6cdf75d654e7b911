// Default names derived from the hardware, and the gateway's id rule.
#include <doctest.h>

#include <string>

#include "identity.h"

TEST_CASE("device_id comes from the MAC: esp32- plus 12 hex digits") {
  const uint8_t mac[6] = {0xA4, 0xCF, 0x12, 0x00, 0x0B, 0xFF};
  char id[32];
  REQUIRE(iotgw::device_id_from_mac(id, sizeof id, mac));
  CHECK(std::string(id) == "esp32-a4cf12000bff");
  CHECK(iotgw::is_valid_id(id));
  const uint8_t other[6] = {0xA4, 0xCF, 0x12, 0x00, 0x0B, 0xFE};
  char id2[32];
  iotgw::device_id_from_mac(id2, sizeof id2, other);
  CHECK(std::string(id) != std::string(id2));
  CHECK_FALSE(iotgw::device_id_from_mac(id, 18, mac));  // too small: refuses instead of cutting
}

TEST_CASE("group_id follows the original sketch: net- plus the IP with dashes") {
  char g[32];
  REQUIRE(iotgw::group_from_ip(g, sizeof g, (192u << 24) | (168u << 16) | (1u << 8) | 1u));
  CHECK(std::string(g) == "net-192-168-1-1");
  REQUIRE(iotgw::group_from_ip(g, sizeof g, 0xFFFFFFFFu));
  CHECK(std::string(g) == "net-255-255-255-255");
  CHECK(iotgw::is_valid_id(g));
}

TEST_CASE("boot_id is 16 hex digits of the two random words") {
  char b[17];
  REQUIRE(iotgw::boot_id_from_random(b, sizeof b, 0xDEADBEEFu, 0x0000000Au));
  CHECK(std::string(b) == "deadbeef0000000a");
  CHECK_FALSE(iotgw::boot_id_from_random(b, 16, 1, 2));
}

TEST_CASE("ids follow the gateway's rule; sanitize turns portal input into a valid id") {
  CHECK(iotgw::is_valid_id("a"));
  CHECK(iotgw::is_valid_id("Lab_2.north:x-1"));
  CHECK_FALSE(iotgw::is_valid_id(""));
  CHECK_FALSE(iotgw::is_valid_id("has space"));
  CHECK_FALSE(iotgw::is_valid_id(std::string(65, 'a').c_str()));
  CHECK(iotgw::is_valid_id(std::string(64, 'a').c_str()));
  char out[80];
  REQUIRE(iotgw::sanitize_id(out, sizeof out, "Lab 2 / north"));
  CHECK(std::string(out) == "Lab-2---north");
  CHECK(iotgw::is_valid_id(out));
  REQUIRE(iotgw::sanitize_id(out, sizeof out, std::string(100, 'z').c_str()));
  CHECK(std::string(out).size() == 64);
  CHECK_FALSE(iotgw::sanitize_id(out, sizeof out, "   "));
  CHECK(out[0] == '\0');
  CHECK_FALSE(iotgw::copy_str(out, 4, "abcdef"));
  CHECK(std::string(out) == "abc");
}
