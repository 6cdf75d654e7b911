// Firmware versions: semver syntax and precedence, as the gateway orders them.
#include <doctest.h>

#include <string>
#include <vector>

#include "version.h"

TEST_CASE("valid and invalid versions") {
  for (const char* v : {"0.1.0", "1.2.3", "10.20.30", "1.0.0-rc.1", "1.0.0-alpha-1", "1.0.0+build.5",
                        "1.0.0-rc.1+sha.abc", "0.0.0"}) {
    CAPTURE(v);
    CHECK(iotgw::valid_version(v));
  }
  for (const char* v : {"", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "v1.2.3", "1.2.3-", "1.2.3-01",
                        "1.2.3+", "1.2.3-a..b", "1.2.3 ", "1.2.3-rc_1", "1.2.3-a1234567890123456789012345"}) {
    CAPTURE(v);
    CHECK_FALSE(iotgw::valid_version(v));
  }
  CHECK_FALSE(iotgw::valid_version(nullptr));
  CHECK(std::string("1.2.3-a123456789012345678901234").size() == 31);
  CHECK(iotgw::valid_version("1.2.3-a123456789012345678901234"));  // 31 characters: the most
  CHECK(std::string("1.2.3-a1234567890123456789012345").size() == 32);
}

TEST_CASE("precedence follows semver 2.0.0 section 11") {
  // The spec's own example chain, each lower than the next.
  const std::vector<std::string> chain = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
                                          "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"};
  for (size_t i = 0; i + 1 < chain.size(); ++i) {
    CAPTURE(chain[i]);
    CHECK(iotgw::compare_versions(chain[i].c_str(), chain[i + 1].c_str()) < 0);
    CHECK(iotgw::compare_versions(chain[i + 1].c_str(), chain[i].c_str()) > 0);
  }
  CHECK(iotgw::compare_versions("0.10.0", "0.9.0") > 0);  // numbers, not text
  CHECK(iotgw::compare_versions("2.0.0", "10.0.0") < 0);
  CHECK(iotgw::compare_versions("0.2.0", "0.2.0") == 0);
  CHECK(iotgw::compare_versions("1.0.0+a", "1.0.0+b") == 0);  // build metadata does not count
  CHECK(iotgw::compare_versions("1.0.0-2", "1.0.0-10") < 0);
}

TEST_CASE("an invalid version sorts below every valid one") {
  CHECK(iotgw::compare_versions("junk", "0.0.0") < 0);
  CHECK(iotgw::compare_versions("0.0.0", "junk") > 0);
  CHECK(iotgw::compare_versions("junk", "other") == 0);
}
