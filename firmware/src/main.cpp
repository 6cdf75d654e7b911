// iotgw ESP32 firmware: thin Arduino glue around the portable core (lib/iotgw_core).
//
// setup(): Wi-Fi (saved network, site default, or the WiFiManager portal), identity from the
// MAC, mDNS announcement, SNTP, then the Device loop from the core. loop(): one Device step.
// Everything that decides anything (payload, buffering, retries, which gateway) is in the core
// and tested on the host; this file only wires the ESP32 APIs to it.
#include <Arduino.h>
#include <ESPmDNS.h>
#include <WiFi.h>
#include <WiFiManager.h>
#include <esp_attr.h>
#include <esp_sleep.h>
#include <esp_system.h>
#include <esp_task_wdt.h>
#include <string.h>
#include <esp_timer.h>

#include "board_sensors.h"
#include "build_config.h"
#include "deep_sleep.h"
#include "device.h"
#include "firmware_sizes.h"
#include "identity.h"
#include "long_press.h"
#include "net_ports.h"
#include "ota_ports.h"
#include "serial_log.h"
#include "settings.h"
#include "wifi_setup.h"
#include "wifi_watchdog.h"

namespace {

class EspRng final : public iotgw::Rng {
 public:
  uint32_t next_u32() override { return esp_random(); }  // hardware RNG (true random with RF on)
};

using FirmwareDevice = iotgw::Device<iotgw::kFirmwareRingCap, iotgw::kFirmwareScratchCap>;

Settings settings;
iotgw::Identity identity;
BoardSensors sensors;
EspRng rng;
MdnsDiscovery discovery;
ArduinoHttp* http = nullptr;
ArduinoWs* ws = nullptr;
EspImageSource* image = nullptr;
EspFlash flash;
SerialLog serial_log;
FirmwareDevice* device = nullptr;  // built once in setup(); nothing is allocated in loop()
// The ring, the sessions, seq and update news, in RTC memory: kept through a software reset, a
// watchdog or panic reset and a deep-sleep wake, garbage after a power-on (which the memory's
// check detects). RTC slow memory is 8 KB, 512 B of it reserved for the ULP; 80 readings fit.
#if IOTGW_RING_CAP <= 80
RTC_NOINIT_ATTR iotgw::DeviceMemory<iotgw::kFirmwareRingCap> memory;
static_assert(sizeof(iotgw::DeviceMemory<iotgw::kFirmwareRingCap>) <= 6144, "the ring must fit the RTC memory budget");
constexpr bool kRingInRtc = true;
#else
iotgw::DeviceMemory<iotgw::kFirmwareRingCap> memory;  // too large for RTC memory: lost at any reset
constexpr bool kRingInRtc = false;
#endif

constexpr bool kDeepSleep = IOTGW_DEEP_SLEEP != 0;
// A wake sends for 30 s at most; an update under way (download, trial) keeps the board up 15 min.
const iotgw::SleepConfig kSleep{IOTGW_SAMPLE_PERIOD_MS, IOTGW_SEND_EVERY, 30000, 15UL * 60UL * 1000UL};

// Down 30 s: disconnect + begin again (what WiFiGeneric.cpp's own handler does for the reasons it
// deems reconnectable); down 5 minutes: restart.
constexpr uint32_t kWifiRestartAfterMs = 5UL * 60UL * 1000UL;
iotgw::WifiWatchdog wifi_watchdog(iotgw::WifiWatchdogConfig{30000, 30000, kWifiRestartAfterMs});

// The task watchdog resets a loop that hangs. Its 5 s default (CONFIG_ESP_TASK_WDT_TIMEOUT_S) is
// shorter than the loop's longest bounded wait, a DNS lookup of a fallback host name
// (WiFiGenericClass::hostByName: up to 16 s for a lookup in progress, then 15 s for its own), so
// the timeout is raised before the loop task is subscribed.
constexpr uint32_t kLoopWatchdogS = 45;

// Factory reset: BOOT held for IOTGW_RESET_HOLD_MS while the board runs. Not at power-on: GPIO0
// low while the chip leaves reset selects the ROM download mode, so the firmware never ran.
iotgw::LongPress factory_reset(IOTGW_RESET_HOLD_MS);

void watch_factory_reset(uint64_t now_ms) {
  if (!factory_reset.update(now_ms, digitalRead(IOTGW_RESET_PIN) == LOW)) return;
  Serial.println("[reset] BOOT held: erasing Wi-Fi and settings, restarting into the set-up portal");
  WiFiManager wm;
  wm.resetSettings();
  settings_erase();
  ESP.restart();
}

void make_identity() {
  uint8_t mac[6];
  WiFi.macAddress(mac);  // factory station MAC: unique per chip
  iotgw::device_id_from_mac(identity.device_id, sizeof identity.device_id, mac);
  if (!iotgw::sanitize_id(identity.group_id, sizeof identity.group_id, settings.group_id)) {
    // As the original sketch: net- + the network's gateway (router) IP, dashes for dots.
    const IPAddress gw = WiFi.gatewayIP();
    const uint32_t ip = (uint32_t(gw[0]) << 24) | (uint32_t(gw[1]) << 16) | (uint32_t(gw[2]) << 8) | gw[3];
    iotgw::group_from_ip(identity.group_id, sizeof identity.group_id, ip);
  }
  iotgw::copy_str(identity.device_type, sizeof identity.device_type, "esp32");
  iotgw::copy_str(identity.fw_version, sizeof identity.fw_version, IOTGW_FW_VERSION);
  iotgw::copy_str(identity.chip_model, sizeof identity.chip_model, ESP.getChipModel());
  iotgw::boot_id_from_random(identity.boot_id, sizeof identity.boot_id, esp_random(), esp_random());
}

// ESPmDNS overloads addServiceTxt for (char*...), (const char*...) and (String...): a char[]
// argument beside string literals matches more than one of them and does not compile
// (ESPmDNS.h 2.0.14, lines 79-85). Every argument goes through const char* parameters here,
// so only the const char* overload is an exact match.
void add_dev_txt(const char* key, const char* value) { MDNS.addServiceTxt("iotgw-dev", "tcp", key, value); }

void announce_mdns() {
  // Host name = device_id, so `ping esp32-xxxxxxxxxxxx.local` works during installation.
  if (!MDNS.begin(identity.device_id)) {
    Serial.println("[mdns] responder failed to start");
    return;
  }
  char mac[18];
  uint8_t m[6];
  WiFi.macAddress(m);
  snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  // Nothing listens on port 80; the record exists so the gateway can list boards on its LAN.
  MDNS.addService("iotgw-dev", "tcp", 80);
  add_dev_txt("id", identity.device_id);
  add_dev_txt("group", identity.group_id);
  add_dev_txt("fw", IOTGW_FW_VERSION);
  add_dev_txt("mac", mac);
}

void log_boot(const iotgw::BootOutcome& boot) {
  switch (boot.kind) {
    case iotgw::BootKind::kTrial:
      Serial.printf("[ota] running %s on trial: it stays once a reading is acknowledged\n", boot.record.version);
      break;
    case iotgw::BootKind::kUpdated:
      Serial.printf("[ota] updated to %s\n", boot.record.version);
      break;
    case iotgw::BootKind::kRolledBack:
      Serial.printf("[ota] %s could not report and was rolled back\n", boot.record.version);
      break;
    case iotgw::BootKind::kSwitchNotMade:
      Serial.printf("[ota] the switch to %s did not happen; still on %s\n", boot.record.version, IOTGW_FW_VERSION);
      break;
    case iotgw::BootKind::kNormal:
      break;
  }
}

uint64_t now_ms() { return static_cast<uint64_t>(esp_timer_get_time() / 1000); }

const char* restored_name(iotgw::Restored r) {
  switch (r) {
    case iotgw::Restored::kContinued: return "session continued from RTC memory";
    case iotgw::Restored::kNewSession: return "new session; unsent readings of the last one kept";
    case iotgw::Restored::kFresh: break;
  }
  return kRingInRtc ? "new session; RTC memory empty or not valid" : "new session; the ring is too large for RTC memory";
}

void build_device(uint64_t now) {
  http = new ArduinoHttp(settings.device_key);
  ws = new ArduinoWs(settings.device_key);
  iotgw::DeviceConfig cfg{};
  cfg.sample_period_ms = IOTGW_SAMPLE_PERIOD_MS;
  cfg.ring_limit = 0;  // all of IOTGW_RING_CAP
  cfg.uplink.max_batch = 5;
  cfg.uplink.max_in_flight = 2;
  cfg.uplink.ack_timeout_ms = 10000;
  cfg.uplink.backoff_base_ms = 1000;
  cfg.uplink.backoff_cap_ms = 60000;
  cfg.uplink.use_ws = !kDeepSleep;  // a battery board sends a few batches per wake: HTTP costs less
  cfg.locator = iotgw::LocatorConfig{settings.gateway_host, settings.gateway_port, 3, 10UL * 60UL * 1000UL};
  cfg.update = iotgw::UpdateConfig{0x1E0000, 10UL * 60UL * 1000UL, 5000, 5UL * 60UL * 1000UL, 30UL * 60UL * 1000UL,
                                   16384, 10UL * 60UL * 1000UL};
  image = new EspImageSource(settings.device_key, identity.device_id);
  const iotgw::DevicePorts ports{&sensors, &rng, iotgw::UplinkPorts{&discovery, http, ws}, image, &flash, &serial_log};
  device = new FirmwareDevice(cfg, memory, identity, ports);
  const iotgw::BootOutcome boot = iotgw::decide_boot(read_boot_facts());
  if (boot.clear_record) clear_update_record();
  log_boot(boot);
  device->start(now, boot);

}

[[noreturn]] void sleep_until_next_sample(uint64_t awake_ms) {
  const uint32_t ms = iotgw::sleep_ms(kSleep, awake_ms);
  Serial.printf("[sleep] %u reading(s) waiting; next wake in %u s\n", static_cast<unsigned>(device->ring().size()),
                static_cast<unsigned>(ms / 1000));
  Serial.flush();
  esp_sleep_enable_timer_wakeup(static_cast<uint64_t>(ms) * 1000ULL);
  esp_deep_sleep_start();
}

// A deep-sleep board woken by its timer takes its reading before anything else, with the
// session's identity from RTC memory, and sleeps again without Wi-Fi unless this wake sends.
void sample_after_wake() {
  if (!kDeepSleep || esp_sleep_get_wakeup_cause() != ESP_SLEEP_WAKEUP_TIMER || !iotgw::memory_valid(memory) ||
      strcmp(memory.sessions[memory.current].fw_version, IOTGW_FW_VERSION) != 0) {
    return;
  }
  identity = memory.sessions[memory.current];
  build_device(now_ms());
  device->sample(now_ms());
  const iotgw::WakeState wake{memory.next_seq - 1, device->restored() != iotgw::Restored::kContinued,
                              device->current_news() != nullptr, device->update().busy()};
  if (!iotgw::connect_this_wake(kSleep, wake)) sleep_until_next_sample(now_ms());
}

}  // namespace

void setup() {
  Serial.begin(115200);
  delay(200);
  Serial.printf("\n[setup] iotgw firmware %s, reset: %s\n", IOTGW_FW_VERSION,
                iotgw::reset_reason_name(board_reset_reason()));
  pinMode(IOTGW_RESET_PIN, INPUT_PULLUP);
  settings_load(settings);
  sample_after_wake();

  uint8_t mac[6];
  WiFi.macAddress(mac);
  char ap_name[32];
  snprintf(ap_name, sizeof ap_name, "iotgw-setup-%02x%02x%02x", mac[3], mac[4], mac[5]);
  char ap_password[64] = {};
  portal_password(ap_password, sizeof ap_password);
  Serial.printf("[setup] set-up portal (after a factory reset): Wi-Fi \"%s\", password \"%s\"\n", ap_name, ap_password);
  const uint32_t wifi_t0 = millis();
  while (!connect_wifi(settings, ap_name, ap_password)) {
    // The saved network did not answer: the router is down or still booting. Keep trying, and
    // restart after as long as the loop's watchdog would wait.
    if (millis() - wifi_t0 >= kWifiRestartAfterMs) {
      Serial.println("[wifi] no network for 5 minutes; restarting");
      ESP.restart();
    }
  }
  Serial.printf("[wifi] connected, IP %s\n", WiFi.localIP().toString().c_str());

  if (device == nullptr) {  // not built yet by a deep-sleep wake from RTC memory
    make_identity();
    build_device(now_ms());
  }
  announce_mdns();
  configTime(0, 0, "pool.ntp.org", "time.google.com");  // readings carry ts once this syncs
  Serial.printf("[setup] device_id %s group %s boot %s seq %u (%s)\n", identity.device_id, identity.group_id,
                device->identity().boot_id, static_cast<unsigned>(memory.next_seq), restored_name(device->restored()));

  // From here on a loop hung for 45 s resets the board (cores/esp32/main.cpp: loopTask feeds the task
  // watchdog before every loop() once enableLoopWDT() subscribed it).
  esp_task_wdt_init(kLoopWatchdogS, true);
  enableLoopWDT();
}

void watch_wifi(uint64_t now_ms) {
  switch (wifi_watchdog.tick(now_ms, WiFi.status() == WL_CONNECTED)) {
    case iotgw::WifiAction::kReconnect:
      Serial.printf("[wifi] down for %u s; reconnecting\n", static_cast<unsigned>(wifi_watchdog.down_for_ms(now_ms) / 1000));
      WiFi.disconnect();  // keeps the saved network; begin() without arguments reconnects to it
      WiFi.begin();
      break;
    case iotgw::WifiAction::kRestart:
      Serial.println("[wifi] down for 5 minutes; restarting");
      ESP.restart();
      break;
    case iotgw::WifiAction::kNone:
      break;
  }
}

void loop() {
  const uint64_t now_ms = static_cast<uint64_t>(esp_timer_get_time() / 1000);
  watch_factory_reset(now_ms);
  watch_wifi(now_ms);
  carry_out(device->loop(now_ms));
  if (kDeepSleep && iotgw::may_sleep(kSleep, now_ms, device->uplink().idle(), device->update().busy())) {
    sleep_until_next_sample(now_ms);
  }
  delay(10);  // yield to the Wi-Fi stack; sampling and retries are paced by the core
}
