// Joining the site's Wi-Fi at boot, and the password-protected set-up portal.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "settings.h"

// Joins the saved network, else the site default (site.ini wifi_ssid), else opens the set-up
// portal "ap_name" with `ap_password`, which only a board without a saved network does. True when
// connected. False when the saved network did not answer within the retries: the caller goes on
// and the loop's Wi-Fi watchdog keeps trying. Restarts the board when the portal timed out.
bool connect_wifi(Settings& settings, const char* ap_name, const char* ap_password);

// Waits up to timeout_ms for the station to get an IP address. Unlike WiFi.waitForConnectResult()
// it does not return at WL_NO_SSID_AVAIL, the state of a router that is still booting.
bool wait_for_wifi(uint32_t timeout_ms);

// The portal password: site.ini portal_password when it is a valid WPA2 password, else this
// board's own random one (made once, kept in NVS outside the factory-reset settings).
void portal_password(char* out, size_t cap);
