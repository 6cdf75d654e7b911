// The OTA update's ports on the ESP32 (docs/firmware-updates.md): the image download with
// HTTPClient, the inactive app slot with the core's Update library, and the record of a switch
// in NVS. The decisions (when, what, whether the bytes are right) are the core's UpdateClient's.
#pragma once

#include <HTTPClient.h>
#include <WiFi.h>

#include "boot_check.h"
#include "host_cache.h"
#include "update_client.h"
#include "update_ports.h"

class EspImageSource final : public iotgw::ImageSource {
 public:
  EspImageSource(const char* device_key, const char* device_id) : key_(device_key), device_id_(device_id) {}
  int open(const iotgw::Endpoint& ep, const char* sha256, uint32_t offset) override;
  int read(uint8_t* buf, size_t cap) override;
  void close() override;

 private:
  const char* key_;
  const char* device_id_;
  HTTPClient http_;
  WiFiClient tcp_;
  WiFiClient* stream_ = nullptr;
  int32_t remaining_ = -1;  // body bytes still to come; -1 unknown
  bool open_ = false;
  iotgw::HostCache hosts_{10UL * 60UL * 1000UL, 60UL * 1000UL};
};

// The app slot the board does not run from, through Update (which writes
// esp_ota_get_next_update_partition()). finish() records the offer and that slot's label in NVS
// before Update.end() makes it the boot partition, so the next boot can tell an update from a
// rollback (decide_boot()).
class EspFlash final : public iotgw::FlashTarget {
 public:
  bool begin(uint32_t size) override;
  bool write(const uint8_t* data, size_t len) override;
  bool finish(const iotgw::FirmwareOffer& offer) override;
  void abort() override;
};

// What decide_boot() needs, from the NVS record and ESP-IDF's partition states.
iotgw::BootFacts read_boot_facts();
// Forgets the NVS record (after a confirmation, a rollback report, or a switch never made).
void clear_update_record();
// Carries out what the Device's loop asked for an update: restart, confirm, roll back.
void carry_out(iotgw::UpdateAction action);
