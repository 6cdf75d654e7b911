// The simulator's image download: GET /firmware/<sha256>.bin?device_id=D from the gateway, from a
// byte offset (Range), with the device key, streamed without blocking the device's loop, and
// optionally throttled (--download-bps) so a test can restart the gateway in the middle.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>

#include "update_ports.h"

namespace sim {

class HttpImageSource final : public iotgw::ImageSource {
 public:
  HttpImageSource(std::string key, uint32_t bytes_per_s) : key_(std::move(key)), bps_(bytes_per_s) {}
  // The board's device_id, sent as ?device_id= so the gateway shows the download's progress.
  void set_device_id(const std::string& id) { device_id_ = id; }
  ~HttpImageSource() { close(); }
  HttpImageSource(const HttpImageSource&) = delete;
  HttpImageSource& operator=(const HttpImageSource&) = delete;

  int open(const iotgw::Endpoint& ep, const char* sha256, uint32_t offset) override;
  int read(uint8_t* buf, size_t cap) override;
  void close() override;

 private:
  std::string device_id_;
  std::string key_;
  uint32_t bps_;
  int fd_ = -1;
  std::string pending_;   // body bytes that came with the head
  long remaining_ = -1;   // body bytes still to come (Content-Length), -1 unknown
  uint64_t opened_ns_ = 0;
  uint64_t delivered_ = 0;
};

// The OTA slot the simulated board does not run from: bytes in memory.
class MemoryFlash final : public iotgw::FlashTarget {
 public:
  bool begin(uint32_t size) override {
    data_.clear();
    data_.reserve(size);
    open_ = true;
    return true;
  }
  bool write(const uint8_t* data, size_t len) override {
    if (!open_) return false;
    data_.append(reinterpret_cast<const char*>(data), len);
    return true;
  }
  bool finish(const iotgw::FirmwareOffer& offer) override {
    open_ = false;
    staged_ = data_;
    staged_offer_ = offer;
    has_staged_ = true;
    return true;
  }
  void abort() override {
    open_ = false;
    data_.clear();
  }
  // The verified image the next boot runs, and what it was offered as.
  bool has_staged() const { return has_staged_; }
  const std::string& staged() const { return staged_; }
  const iotgw::FirmwareOffer& staged_offer() const { return staged_offer_; }
  void clear_staged() { has_staged_ = false; }

 private:
  std::string data_;
  std::string staged_;
  iotgw::FirmwareOffer staged_offer_ = {};
  bool open_ = false;
  bool has_staged_ = false;
};

}  // namespace sim
