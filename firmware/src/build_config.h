// Build-time defaults. platformio.ini fills these from site.ini ([site] section); the fallbacks
// here keep the sketch compiling in an IDE that does not pass them.
#pragma once

#ifndef IOTGW_FW_VERSION
#define IOTGW_FW_VERSION "0.1.0"
#endif
#ifndef IOTGW_SITE_WIFI_SSID
#define IOTGW_SITE_WIFI_SSID ""
#endif
#ifndef IOTGW_SITE_WIFI_PASSWORD
#define IOTGW_SITE_WIFI_PASSWORD ""
#endif
#ifndef IOTGW_SITE_GATEWAY_HOST
#define IOTGW_SITE_GATEWAY_HOST ""
#endif
#ifndef IOTGW_SITE_GATEWAY_PORT
#define IOTGW_SITE_GATEWAY_PORT 3000
#endif
#ifndef IOTGW_SITE_GROUP_ID
#define IOTGW_SITE_GROUP_ID ""
#endif
#ifndef IOTGW_SITE_DEVICE_KEY
#define IOTGW_SITE_DEVICE_KEY ""
#endif
#ifndef IOTGW_SITE_PORTAL_PASSWORD
#define IOTGW_SITE_PORTAL_PASSWORD ""
#endif
#ifndef IOTGW_DEEP_SLEEP
#define IOTGW_DEEP_SLEEP 0
#endif
#ifndef IOTGW_SEND_EVERY
#define IOTGW_SEND_EVERY 6
#endif
#ifndef IOTGW_SAMPLE_PERIOD_MS
#define IOTGW_SAMPLE_PERIOD_MS 10000
#endif

// Hold BOOT (GPIO0) this long while the board runs to erase Wi-Fi and settings (factory reset).
#define IOTGW_RESET_PIN 0
#define IOTGW_RESET_HOLD_MS 5000
