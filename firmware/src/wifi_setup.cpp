#include "wifi_setup.h"

#include <Arduino.h>
#include <Preferences.h>
#include <WiFi.h>
#include <WiFiManager.h>
#include <esp_random.h>
#include <stdlib.h>

#include "build_config.h"
#include "identity.h"
#include "portal_password.h"

namespace {

// WiFiManager's defaults are _connectTimeout = 0 and _connectRetries = 1 (WiFiManager.h 2.0.17):
// it then waits with WiFi.waitForConnectResult(), which returns at WL_NO_SSID_AVAIL, so a router
// booting slower than the board failed the connect at once. With a timeout set, WiFiManager waits
// until CONNECTED or CONNECT_FAILED (WiFiManager.cpp waitForConnectResult(timeout)).
constexpr unsigned long kConnectTimeoutS = 30;
constexpr uint8_t kConnectRetries = 3;
constexpr unsigned long kPortalTimeoutS = 300;
const char kApNamespace[] = "iotgw-ap";

bool run_portal(WiFiManager& wm, Settings& settings, const char* ap_name, const char* ap_password) {
  char port[6];
  snprintf(port, sizeof port, "%u", settings.gateway_port);
  WiFiManagerParameter p_host("gw_host", "Gateway host (only if mDNS fails)", settings.gateway_host, 63);
  WiFiManagerParameter p_port("gw_port", "Gateway port", port, 5);
  WiFiManagerParameter p_group("group", "Group id (empty: net-<router IP>)", settings.group_id, 64);
  // The key is never shown back in the form; an empty field keeps the current one.
  WiFiManagerParameter p_key("key", "Device key (empty: keep the current one)", "", 64);
  wm.addParameter(&p_host);
  wm.addParameter(&p_port);
  wm.addParameter(&p_group);
  wm.addParameter(&p_key);
  bool save = false;
  wm.setSaveParamsCallback([&save]() { save = true; });
  wm.setConfigPortalTimeout(kPortalTimeoutS);
  Serial.printf("[wifi] set-up portal: join Wi-Fi \"%s\" with password \"%s\"\n", ap_name, ap_password);
  if (!wm.autoConnect(ap_name, ap_password)) return false;
  if (save) {
    iotgw::copy_str(settings.gateway_host, sizeof settings.gateway_host, p_host.getValue());
    settings.gateway_port = static_cast<uint16_t>(atoi(p_port.getValue()));
    if (settings.gateway_port == 0) settings.gateway_port = 3000;
    iotgw::copy_str(settings.group_id, sizeof settings.group_id, p_group.getValue());
    if (p_key.getValue()[0] != '\0') iotgw::copy_str(settings.device_key, sizeof settings.device_key, p_key.getValue());
    settings_save(settings);
  }
  return true;
}

}  // namespace

bool wait_for_wifi(uint32_t timeout_ms) {
  const uint32_t t0 = millis();
  while (WiFi.status() != WL_CONNECTED) {
    if (millis() - t0 >= timeout_ms) return false;
    delay(100);
  }
  return true;
}

bool connect_wifi(Settings& settings, const char* ap_name, const char* ap_password) {
  WiFi.mode(WIFI_STA);
  WiFi.setAutoReconnect(true);
  WiFiManager wm;
  wm.setConnectTimeout(kConnectTimeoutS);
  wm.setConnectRetries(kConnectRetries);
  if (wm.getWiFiIsSaved()) {
    // A board with a network never opens the portal by itself: after a power cut the router may
    // come up later than the board, and the portal would let anyone nearby change the gateway or
    // the device key. The installer opens it on purpose with a factory reset (BOOT held 5 s).
    wm.setEnableConfigPortal(false);
    Serial.println("[wifi] joining the saved network");
    return wm.autoConnect(ap_name, ap_password);
  }
  if (IOTGW_SITE_WIFI_SSID[0] != '\0') {
    Serial.printf("[wifi] trying site default \"%s\"\n", IOTGW_SITE_WIFI_SSID);
    WiFi.begin(IOTGW_SITE_WIFI_SSID, IOTGW_SITE_WIFI_PASSWORD);
    if (wait_for_wifi(kConnectTimeoutS * 1000)) return true;
  }
  if (!run_portal(wm, settings, ap_name, ap_password)) {
    Serial.println("[wifi] the set-up portal timed out; restarting");
    ESP.restart();
  }
  return true;
}

void portal_password(char* out, size_t cap) {
  if (iotgw::valid_ap_password(IOTGW_SITE_PORTAL_PASSWORD)) {
    iotgw::copy_str(out, cap, IOTGW_SITE_PORTAL_PASSWORD);
    return;
  }
  Preferences prefs;
  if (prefs.begin(kApNamespace, false)) {
    if (prefs.isKey("pass")) prefs.getString("pass", out, cap);
    if (!iotgw::valid_ap_password(out)) {
      uint32_t words[10];
      esp_fill_random(words, sizeof words);
      iotgw::password_from_random(out, cap, 10, words, 10);
      prefs.putString("pass", out);
    }
    prefs.end();
    return;
  }
  // NVS unusable: a password for this boot only, still better than an open portal.
  uint32_t words[10];
  esp_fill_random(words, sizeof words);
  iotgw::password_from_random(out, cap, 10, words, 10);
}
