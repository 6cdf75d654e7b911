// Default names, so a freshly flashed board needs no configuration.
//
// The original sketch hard-coded one device_id, so every board overwrote the others. The id now
// comes from the chip's factory MAC (unique per chip), and the group follows the original sketch:
// "net-" + an IP with dashes (on the board: the Wi-Fi network's gateway, so boards on one LAN
// share a group).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace iotgw {

// "esp32-" + 12 lowercase hex digits of the MAC, e.g. esp32-a4cf12345678. Needs cap >= 19.
bool device_id_from_mac(char* out, size_t cap, const uint8_t mac[6]);

// "net-" + dotted IPv4 with dashes, e.g. net-192-168-1-1. Needs cap >= 20.
bool group_from_ip(char* out, size_t cap, uint32_t ipv4_host_order);

// 16 hex digits from two random words; changes every boot.
bool boot_id_from_random(char* out, size_t cap, uint32_t r1, uint32_t r2);

// True if s is 1-64 chars of [A-Za-z0-9._:-], the gateway's rule for device_id and group_id.
bool is_valid_id(const char* s);

// Copies `in` into `out` keeping allowed characters and turning others into '-', truncated to
// 64 chars. An operator typing "Lab 2 / north" in the portal gets "Lab-2---north", not a 400.
// Returns false (and leaves out empty) if nothing usable remains.
bool sanitize_id(char* out, size_t cap, const char* in);

// Bounded copy that always terminates; returns false if `in` was cut.
bool copy_str(char* out, size_t cap, const char* in);

}  // namespace iotgw
