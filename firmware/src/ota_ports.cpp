#include "ota_ports.h"

#include <Arduino.h>
#include <Preferences.h>
#include <Update.h>
#include <esp_ota_ops.h>
#include <string.h>

#include "identity.h"
#include "net_ports.h"

// initArduino() (cores/esp32/esp32-hal-misc.c, 2.0.x) marks an image on trial
// (ESP_OTA_IMG_PENDING_VERIFY) valid before setup() runs, unless this weak hook says otherwise:
// the image would be "confirmed" by merely booting. It confirms itself in carry_out(kConfirm),
// once a reading was acknowledged. C linkage: the core declares the hook in a C file.
extern "C" bool verifyRollbackLater() { return true; }

namespace {

const char kRecordNamespace[] = "iotgw-ota";
constexpr uint32_t kReadTimeoutS = 2;

bool save_record(const iotgw::FirmwareOffer& offer, const char* slot) {
  Preferences prefs;
  if (!prefs.begin(kRecordNamespace, false)) return false;
  const bool ok = prefs.putString("ver", offer.version) > 0 && prefs.putString("sha", offer.sha256) > 0 &&
                  prefs.putUInt("size", offer.size) > 0 && prefs.putString("slot", slot) > 0;
  prefs.end();
  return ok;
}

bool load_record(iotgw::FirmwareOffer* offer, char* slot, size_t slot_cap) {
  Preferences prefs;
  if (!prefs.begin(kRecordNamespace, true)) return false;
  const bool ok = prefs.isKey("ver") && prefs.isKey("slot");
  if (ok) {
    prefs.getString("ver", offer->version, sizeof offer->version);
    prefs.getString("sha", offer->sha256, sizeof offer->sha256);
    offer->size = prefs.getUInt("size", 0);
    prefs.getString("slot", slot, slot_cap);
  }
  prefs.end();
  return ok;
}

bool same_label(const esp_partition_t* p, const char* label) { return p != nullptr && strcmp(p->label, label) == 0; }

}  // namespace

int EspImageSource::open(const iotgw::Endpoint& ep, const char* sha256, uint32_t offset) {
  close();
  char host[16];
  if (!gateway_address(hosts_, ep.host, host)) return -1;
  char path[128];
  snprintf(path, sizeof path, "/firmware/%s.bin?device_id=%s", sha256, device_id_);
  http_.setConnectTimeout(3000);
  http_.setTimeout(5000);
  if (!http_.begin(tcp_, host, ep.port, path)) return -1;
  if (offset > 0) {
    char range[32];
    snprintf(range, sizeof range, "bytes=%u-", static_cast<unsigned>(offset));
    http_.addHeader("Range", range);
  }
  if (key_ != nullptr && key_[0] != '\0') {
    char auth[96];
    snprintf(auth, sizeof auth, "Bearer %s", key_);
    http_.addHeader("Authorization", auth);
  }
  const int code = http_.GET();
  if (code != 200 && code != 206) {
    http_.end();
    return code;
  }
  remaining_ = http_.getSize();
  stream_ = http_.getStreamPtr();
  // WiFiClient::setTimeout takes seconds on the 2.0.x core: a stalled read may not hold the loop long.
  stream_->setTimeout(kReadTimeoutS);
  open_ = true;
  return code;
}

int EspImageSource::read(uint8_t* buf, size_t cap) {
  if (!open_ || remaining_ == 0) return -1;
  const int avail = stream_->available();
  if (avail <= 0) return stream_->connected() ? 0 : -1;  // nothing yet, or closed before the end
  size_t n = static_cast<size_t>(avail) < cap ? static_cast<size_t>(avail) : cap;
  if (remaining_ > 0 && n > static_cast<size_t>(remaining_)) n = static_cast<size_t>(remaining_);
  const int got = stream_->read(buf, n);
  if (got <= 0) return stream_->connected() ? 0 : -1;
  if (remaining_ > 0) remaining_ -= got;
  return got;
}

void EspImageSource::close() {
  if (open_) http_.end();
  open_ = false;
  stream_ = nullptr;
}

bool EspFlash::begin(uint32_t size) { return Update.begin(size, U_FLASH); }

bool EspFlash::write(const uint8_t* data, size_t len) {
  // Update checks the image's first byte (0xE9) itself and refuses anything else.
  return Update.write(const_cast<uint8_t*>(data), len) == len;
}

bool EspFlash::finish(const iotgw::FirmwareOffer& offer) {
  const esp_partition_t* target = esp_ota_get_next_update_partition(nullptr);
  if (target == nullptr || !save_record(offer, target->label)) {
    Update.abort();
    return false;
  }
  // end(): every byte written, the image checked by esp_ota_end(), then esp_ota_set_boot_partition().
  if (!Update.end()) {
    Serial.printf("[ota] the new image was refused: %s\n", Update.errorString());
    clear_update_record();
    return false;
  }
  return true;
}

void EspFlash::abort() { Update.abort(); }

iotgw::BootFacts read_boot_facts() {
  iotgw::BootFacts f{};
  char slot[17] = {};
  f.has_record = load_record(&f.record, slot, sizeof slot);
  if (!f.has_record) return f;
  const esp_partition_t* running = esp_ota_get_running_partition();
  f.running_record_slot = same_label(running, slot);
  esp_ota_img_states_t state;
  f.pending_verify = running != nullptr && esp_ota_get_state_partition(running, &state) == ESP_OK &&
                     state == ESP_OTA_IMG_PENDING_VERIFY;
  // The slot the bootloader gave up on (ABORTED: it restarted on trial) or we marked INVALID.
  f.record_slot_invalid = same_label(esp_ota_get_last_invalid_partition(), slot);
  return f;
}

void clear_update_record() {
  Preferences prefs;
  if (prefs.begin(kRecordNamespace, false)) {
    prefs.clear();
    prefs.end();
  }
}

void carry_out(iotgw::UpdateAction action) {
  switch (action) {
    case iotgw::UpdateAction::kRestart:
      Serial.println("[ota] new image verified (size, SHA-256); restarting into it");
      Serial.flush();
      ESP.restart();
      break;
    case iotgw::UpdateAction::kConfirm:
      // The first reading of this image was acknowledged: it stays.
      if (esp_ota_mark_app_valid_cancel_rollback() == ESP_OK) clear_update_record();
      Serial.println("[ota] new image confirmed");
      break;
    case iotgw::UpdateAction::kRollback:
      Serial.println("[ota] no reading acknowledged since the update; rolling back");
      Serial.flush();
      esp_ota_mark_app_invalid_rollback_and_reboot();  // returns only if there is nothing to go back to
      break;
    case iotgw::UpdateAction::kNone:
      break;
  }
}
