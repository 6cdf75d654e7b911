// The set-up portal's password: site setting or a per-board random one.
#include <doctest.h>

#include <string.h>

#include <string>

#include "portal_password.h"

TEST_CASE("a WPA2 password is 8 to 63 printable ASCII characters") {
  CHECK(iotgw::valid_ap_password("12345678"));
  CHECK(iotgw::valid_ap_password(std::string(63, 'x').c_str()));
  CHECK_FALSE(iotgw::valid_ap_password(""));
  CHECK_FALSE(iotgw::valid_ap_password("1234567"));
  CHECK_FALSE(iotgw::valid_ap_password(std::string(64, 'x').c_str()));
  CHECK_FALSE(iotgw::valid_ap_password("tab\there!"));
  CHECK_FALSE(iotgw::valid_ap_password("caf\xc3\xa9-latte"));
  CHECK_FALSE(iotgw::valid_ap_password(nullptr));
}

TEST_CASE("a random password has the asked length, no look-alike characters, and is valid") {
  uint32_t words[10];
  for (uint32_t i = 0; i < 10; ++i) words[i] = 0x9E3779B9u * (i + 1);
  char pw[11];
  REQUIRE(iotgw::password_from_random(pw, sizeof pw, 10, words, 10));
  CHECK(strlen(pw) == 10);
  CHECK(iotgw::valid_ap_password(pw));
  for (const char* c = pw; *c; ++c) CHECK(strchr("0o1li", *c) == nullptr);
}

TEST_CASE("different random words give different passwords; every alphabet letter is reachable") {
  uint32_t a[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  uint32_t b[10] = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  char pa[11], pb[11];
  REQUIRE(iotgw::password_from_random(pa, sizeof pa, 10, a, 10));
  REQUIRE(iotgw::password_from_random(pb, sizeof pb, 10, b, 10));
  CHECK(std::string(pa) != std::string(pb));
  CHECK(std::string(pa) == "abcdefghjk");
}

TEST_CASE("too little room or too few words is refused") {
  uint32_t w[10] = {};
  char pw[10];
  CHECK_FALSE(iotgw::password_from_random(pw, sizeof pw, 10, w, 10));  // no room for the NUL
  char big[20];
  CHECK_FALSE(iotgw::password_from_random(big, sizeof big, 12, w, 10));
  CHECK_FALSE(iotgw::password_from_random(big, sizeof big, 0, w, 10));
}
