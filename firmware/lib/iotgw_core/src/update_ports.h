// The OTA update's ways out of the core (docs/firmware-updates.md, 3): the image download and the
// inactive flash slot. The glue implements them with HTTPClient and Update (src/ota_ports.cpp),
// the simulator with sockets and memory; the decisions stay in UpdateClient.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"
#include "firmware_offer.h"

namespace iotgw {

// GET /firmware/<sha256>.bin?device_id=D from the gateway, with the device key when configured.
class ImageSource {
 public:
  // Starts the download at byte `offset` (a Range request when offset > 0). Returns the HTTP
  // status: 200 (the body starts at byte 0, whatever was asked), 206 (it starts at `offset`),
  // another status when refused; <= 0 when no answer came.
  virtual int open(const Endpoint& ep, const char* sha256, uint32_t offset) = 0;
  // Next body bytes into buf: > 0 their count, 0 none yet (call again), < 0 the body ended
  // (complete, or the connection dropped: the caller knows how many it expected).
  virtual int read(uint8_t* buf, size_t cap) = 0;
  virtual void close() = 0;

 protected:
  ~ImageSource() = default;
};

// The OTA slot the board does not run from.
class FlashTarget {
 public:
  // Prepares the slot for an image of `size` bytes; false when it does not fit or fails.
  virtual bool begin(uint32_t size) = 0;
  virtual bool write(const uint8_t* data, size_t len) = 0;
  // The image is complete and its size and SHA-256 checked: records `offer` for the next boot's
  // decide_boot() (the glue: NVS) and makes the slot the boot image. False on failure.
  virtual bool finish(const FirmwareOffer& offer) = 0;
  // Drops what was written; the running image stays the boot image.
  virtual void abort() = 0;

 protected:
  ~FlashTarget() = default;
};

}  // namespace iotgw
