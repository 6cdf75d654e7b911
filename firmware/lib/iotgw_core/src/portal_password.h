// The set-up portal's Wi-Fi password.
//
// Why the portal has one: it lets whoever joins it change the board's Wi-Fi, gateway and device
// key. A site sets one password for all its boards in site.ini (portal_password); without it each
// board makes its own random one at first boot, keeps it (factory reset does not change it) and
// prints it on the serial log, like the password sticker on a router.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace iotgw {

// WPA2-PSK takes 8..63 printable ASCII characters; WiFiManager refuses to open the portal with
// anything else (WiFiManager.cpp validApPassword), so such a site setting is not used.
bool valid_ap_password(const char* s);

// `length` characters from an alphabet without look-alikes (no 0/o, 1/l/i), one per random word.
// Needs cap > length and length <= word count; returns false otherwise.
bool password_from_random(char* out, size_t cap, size_t length, const uint32_t* words, size_t word_count);

}  // namespace iotgw
