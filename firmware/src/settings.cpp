#include "settings.h"

#include <Preferences.h>
#include <string.h>

#include "build_config.h"
#include "identity.h"

namespace {
const char kNamespace[] = "iotgw";
}

void settings_load(Settings& s) {
  iotgw::copy_str(s.gateway_host, sizeof s.gateway_host, IOTGW_SITE_GATEWAY_HOST);
  s.gateway_port = IOTGW_SITE_GATEWAY_PORT;
  iotgw::copy_str(s.group_id, sizeof s.group_id, IOTGW_SITE_GROUP_ID);
  iotgw::copy_str(s.device_key, sizeof s.device_key, IOTGW_SITE_DEVICE_KEY);

  Preferences prefs;
  if (!prefs.begin(kNamespace, true)) return;  // nothing saved yet: site defaults stand
  // The char* overload of getString copies into our buffer (no String allocation).
  if (prefs.isKey("host")) prefs.getString("host", s.gateway_host, sizeof s.gateway_host);
  if (prefs.isKey("port")) s.gateway_port = prefs.getUShort("port", s.gateway_port);
  if (prefs.isKey("group")) prefs.getString("group", s.group_id, sizeof s.group_id);
  if (prefs.isKey("key")) prefs.getString("key", s.device_key, sizeof s.device_key);
  prefs.end();
}

void settings_save(const Settings& s) {
  Preferences prefs;
  if (!prefs.begin(kNamespace, false)) return;
  prefs.putString("host", s.gateway_host);
  prefs.putUShort("port", s.gateway_port);
  prefs.putString("group", s.group_id);
  prefs.putString("key", s.device_key);
  prefs.end();
}

void settings_erase() {
  Preferences prefs;
  if (prefs.begin(kNamespace, false)) {
    prefs.clear();
    prefs.end();
  }
}
