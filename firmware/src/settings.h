// Site settings of one board: build-time defaults from site.ini, overridden by what the
// installer typed into the set-up portal (kept in NVS, so Wi-Fi or gateway changes need no
// reflash). Wi-Fi credentials themselves are stored by the ESP32 Wi-Fi driver (also NVS).
#pragma once

#include <stdint.h>

struct Settings {
  char gateway_host[64];  // fallback when mDNS finds nothing; "" = none
  uint16_t gateway_port;
  char group_id[65];      // "" = net-<router IP>
  char device_key[65];    // "" = no Authorization header
};

// Reads NVS namespace "iotgw", falling back to the site.ini defaults compiled in.
void settings_load(Settings& s);
void settings_save(const Settings& s);
// Forgets the NVS settings (factory reset: BOOT held while the board runs).
void settings_erase();
