// One board's telemetry loop, shared by the ESP32 glue (src/main.cpp) and the host simulator:
// sample on a fixed period, give each reading the next seq of its session, queue it in the ring,
// let the uplink move it, and let the update client act on the gateway's firmware offers.
//
// Sessions: a session is one (device, group, type, firmware) with its boot_id. The ring, the
// sessions and the seq live in DeviceMemory, which survives resets; a boot that finds a valid
// memory of the same session continues it (same boot_id, seq goes on, unsent readings are sent
// under the ids they were taken with); a boot with another identity (an OTA switch, a rollback,
// a new group) starts a new session and sends the old session's readings under the old boot_id.
// Storage is sized at compile time, so nothing is allocated after construction.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backoff.h"
#include "boot_check.h"
#include "device_memory.h"
#include "identity.h"
#include "locator.h"
#include "ring_buffer.h"
#include "telemetry.h"
#include "update_client.h"
#include "uplink.h"

namespace iotgw {

// Reads the board (heap, temperature, RSSI, ...) into everything but `seq`, `loop_count`,
// `session` and `news`. Sets ts_ms to 0 while the wall clock is not synced.
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
  UpdateConfig update;
};

struct DevicePorts {
  SensorPort* sensors;
  Rng* rng;
  UplinkPorts uplink;
  ImageSource* image;         // nullptr: this build cannot update (offers fail as "no OTA support")
  FlashTarget* flash;
  UplinkObserver* observer;   // serial log or the simulator's record; may be nullptr
};

enum class Restored : uint8_t { kFresh, kContinued, kNewSession };

template <size_t RingCap, size_t ScratchCap>
class Device final : public ReadingBook, private UplinkObserver, private UpdateNewsSink {
 public:
  // `fresh` is this boot's identity with a new random boot_id; the memory decides whether it is
  // used or the stored session goes on.
  Device(const DeviceConfig& cfg, DeviceMemory<RingCap>& memory, const Identity& fresh, const DevicePorts& ports)
      : cfg_(cfg),
        mem_(memory),
        ring_(memory.ring, RingCap),
        sensors_(*ports.sensors),
        observer_(ports.observer),
        locator_(cfg.locator),
        uplink_(cfg.uplink, *this, ring_, locator_, *ports.rng, ports.uplink, scratch_, ScratchCap, this),
        update_(cfg.update, fresh.fw_version, ports.image, ports.flash, *this, *ports.rng) {
    restore(fresh);
    if (cfg.ring_limit > 0) ring_.set_limit(cfg.ring_limit);
    persist();
  }

  // Once, after construction: what this boot means for an update (decide_boot()).
  void start(uint64_t now_ms, const BootOutcome& boot) {
    update_.start(now_ms, boot);
    persist();
  }

  // Call as often as possible; `sampling` false stops new readings (the simulator's drain phase).
  // Returns what the board must do for an update now (restart, confirm, roll back).
  UpdateAction loop(uint64_t now_ms, bool sampling = true) {
    now_ms_ = now_ms;
    ++loop_count_;
    if (sampling) take_reading(now_ms);
    const size_t head = ring_.head();
    const size_t count = ring_.size();
    uplink_.tick(now_ms);
    if (ring_.head() != head || ring_.size() != count) dirty_ = true;
    const UpdateAction action = update_.tick(now_ms, locator_.current(), ring_.empty());
    if (dirty_) persist();
    return action;
  }

  // A reading, if one is due, without the network: a deep-sleep wake that does not bring Wi-Fi
  // up. The memory is sealed before it returns (the board may sleep right after).
  void sample(uint64_t now_ms) {
    now_ms_ = now_ms;
    ++loop_count_;
    take_reading(now_ms);
    if (dirty_) persist();
  }

  // ReadingBook: a sample holds only its session and news slots.
  const Identity& identity_of(const Sample& s) const override { return mem_.sessions[s.session % kSessionSlots]; }
  const UpdateNews* news_of(const Sample& s) const override {
    return s.news >= 1 && s.news <= kNewsSlots ? &mem_.news[s.news - 1] : nullptr;
  }
  uint64_t order_of(const Sample& s) const override {
    return (static_cast<uint64_t>(mem_.generation[s.session % kSessionSlots]) << 32) | s.seq;
  }

  Restored restored() const { return restored_; }
  uint32_t produced() const { return produced_; }  // readings taken by this boot
  const Identity& identity() const { return mem_.sessions[mem_.current]; }
  const RingView<Sample>& ring() const { return ring_; }
  const Uplink& uplink() const { return uplink_; }
  const Locator& locator() const { return locator_; }
  const UpdateClient& update() const { return update_; }
  const UpdateNews* current_news() const { return mem_.current_news > 0 ? &mem_.news[mem_.current_news - 1] : nullptr; }

 private:
  void restore(const Identity& fresh) {
    if (!memory_valid(mem_)) {
      memset(&mem_, 0, sizeof mem_);
      start_session(0, fresh, 1);
      restored_ = Restored::kFresh;
      return;
    }
    ring_.restore(mem_.ring_head, mem_.ring_count, mem_.ring_dropped);
    if (same_session(mem_.sessions[mem_.current], fresh)) {
      restored_ = Restored::kContinued;
      return;
    }
    // A new session takes the other slot; readings still there are two sessions old, and go.
    const uint8_t other = static_cast<uint8_t>((mem_.current + 1) % kSessionSlots);
    while (!ring_.empty() && ring_.front().session == other) {
      ring_.pop_front(1);
      ++mem_.ring_dropped;
    }
    ring_.restore(ring_.head(), ring_.size(), mem_.ring_dropped);
    start_session(other, fresh, mem_.generation[mem_.current] + 1);
    restored_ = Restored::kNewSession;
  }

  void take_reading(uint64_t now_ms) {
    if (now_ms < next_sample_ms_) return;
    Sample s = {};
    sensors_.read(&s);
    s.seq = mem_.next_seq++;
    s.loop_count = loop_count_;
    s.session = mem_.current;
    s.news = mem_.current_news;
    ring_.push(s);
    ++produced_;
    dirty_ = true;
    // Catch up without bursts if the loop was blocked longer than a period.
    next_sample_ms_ = next_sample_ms_ + cfg_.sample_period_ms > now_ms ? next_sample_ms_ + cfg_.sample_period_ms
                                                                       : now_ms + cfg_.sample_period_ms;
  }

  void start_session(uint8_t slot, const Identity& fresh, uint32_t generation) {
    mem_.sessions[slot] = fresh;
    mem_.generation[slot] = generation;
    mem_.current = slot;
    mem_.next_seq = 0;
    mem_.current_news = 0;  // news of the old session stays with its readings
  }

  void persist() {
    mem_.ring_head = static_cast<uint32_t>(ring_.head());
    mem_.ring_count = static_cast<uint32_t>(ring_.size());
    mem_.ring_dropped = ring_.dropped();
    memory_seal(mem_);
    dirty_ = false;
  }

  bool news_referenced(uint8_t tag) const {
    for (size_t i = 0; i < ring_.size(); ++i) {
      if (ring_.at(i).news == tag) return true;
    }
    return false;
  }

  // UpdateNewsSink: new readings carry this news until one of them is acknowledged.
  void update_news(UpdateState state, const char* version, const char* reason) override {
    size_t slot = kNewsSlots;
    for (size_t k = 0; k < kNewsSlots && slot == kNewsSlots; ++k) {
      const uint8_t tag = static_cast<uint8_t>(k + 1);
      if (tag != mem_.current_news && !news_referenced(tag)) slot = k;
    }
    if (slot == kNewsSlots) slot = mem_.current_news > 0 ? mem_.current_news - 1u : 0u;  // all in use: reuse
    UpdateNews& n = mem_.news[slot];
    n.state = state;
    copy_str(n.version, sizeof n.version, version);
    copy_str(n.reason, sizeof n.reason, reason);
    mem_.current_news = static_cast<uint8_t>(slot + 1);
    dirty_ = true;
  }

  // UplinkObserver: the Device acts on acks and offers first, then tells its own observer.
  void on_acked(const Identity& id, uint32_t first_seq, uint32_t last_seq, uint32_t count) override {
    if (observer_ != nullptr) observer_->on_acked(id, first_seq, last_seq, count);
  }
  void on_reading_acked(const Sample& s) override {
    if (s.news != 0 && s.news == mem_.current_news) {
      const UpdateState delivered = mem_.news[s.news - 1].state;
      mem_.current_news = 0;
      dirty_ = true;
      update_.on_news_delivered(delivered);
    }
    if (s.session == mem_.current) update_.on_acked_this_boot();
    if (observer_ != nullptr) observer_->on_reading_acked(s);
  }
  void on_event(UplinkEvent ev, uint32_t a, uint32_t b) override {
    if (observer_ != nullptr) observer_->on_event(ev, a, b);
  }
  void on_offer(const FirmwareOffer& offer) override {
    update_.offer(now_ms_, offer);
    if (observer_ != nullptr) observer_->on_offer(offer);
  }

  DeviceConfig cfg_;
  DeviceMemory<RingCap>& mem_;
  ExternalRing<Sample> ring_;
  SensorPort& sensors_;
  UplinkObserver* observer_;
  Locator locator_;
  char scratch_[ScratchCap] = {};
  Uplink uplink_;
  UpdateClient update_;
  Restored restored_ = Restored::kFresh;
  uint64_t next_sample_ms_ = 0;
  uint64_t now_ms_ = 0;
  uint32_t loop_count_ = 0;
  uint32_t produced_ = 0;
  bool dirty_ = false;
};

}  // namespace iotgw
