// Firmware versions: semantic versions (MAJOR.MINOR.PATCH, an optional -prerelease, an optional
// +build) of at most 31 characters, ordered by semver precedence: the same rules as the gateway
// (gateway/firmware/version.ts), so both sides agree on which image is newer.
#pragma once

namespace iotgw {

bool valid_version(const char* v);

// Negative when a < b, 0 when equal in precedence (build metadata ignored), positive when a > b.
// Both must be valid_version(); an invalid one sorts before every valid one.
int compare_versions(const char* a, const char* b);

}  // namespace iotgw
