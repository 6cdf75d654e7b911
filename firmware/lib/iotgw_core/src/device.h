// One board's telemetry loop, shared by the ESP32 glue (src/main.cpp) and the host simulator:
// sample on a fixed period, give each reading the next per-boot seq, queue it in the ring,
// let the uplink move it. Storage is sized at compile time (RingCap readings, ScratchCap bytes
// for one outgoing document), so nothing is allocated after construction.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "locator.h"
#include "ring_buffer.h"
#include "telemetry.h"
#include "uplink.h"

namespace iotgw {

// Reads the board (heap, temperature, RSSI, ...) into everything but `seq` and `loop_count`.
// Sets ts_ms to 0 while the wall clock is not synced.
class SensorPort {
 public:
  virtual void read(Sample* out) = 0;

 protected:
  ~SensorPort() = default;
};

struct DeviceConfig {
  uint32_t sample_period_ms;
  size_t ring_limit;  // <= RingCap; 0 = all of it
  UplinkConfig uplink;
  LocatorConfig locator;
};

template <size_t RingCap, size_t ScratchCap>
class Device {
 public:
  Device(const DeviceConfig& cfg, const Identity& id, SensorPort& sensors, Rng& rng, const UplinkPorts& ports,
         UplinkObserver* observer)
      : cfg_(cfg),
        id_(id),
        sensors_(sensors),
        locator_(cfg.locator),
        uplink_(cfg.uplink, id_, ring_, locator_, rng, ports, scratch_, ScratchCap, observer) {
    if (cfg.ring_limit > 0) ring_.set_limit(cfg.ring_limit);
  }

  // Call as often as possible; `sampling` false stops new readings (the simulator's drain phase).
  void loop(uint64_t now_ms, bool sampling = true) {
    ++loop_count_;
    if (sampling && now_ms >= next_sample_ms_) {
      Sample s = {};
      sensors_.read(&s);
      s.seq = next_seq_++;
      s.loop_count = loop_count_;
      ring_.push(s);
      // Catch up without bursts if the loop was blocked longer than a period.
      next_sample_ms_ = next_sample_ms_ + cfg_.sample_period_ms > now_ms ? next_sample_ms_ + cfg_.sample_period_ms
                                                                         : now_ms + cfg_.sample_period_ms;
    }
    uplink_.tick(now_ms);
  }

  uint32_t produced() const { return next_seq_; }
  const Identity& identity() const { return id_; }
  const RingView<Sample>& ring() const { return ring_; }
  const Uplink& uplink() const { return uplink_; }
  const Locator& locator() const { return locator_; }

 private:
  DeviceConfig cfg_;
  Identity id_;
  SensorPort& sensors_;
  RingBuffer<Sample, RingCap> ring_;
  Locator locator_;
  char scratch_[ScratchCap] = {};
  Uplink uplink_;
  uint64_t next_sample_ms_ = 0;
  uint32_t next_seq_ = 0;
  uint32_t loop_count_ = 0;
};

}  // namespace iotgw
