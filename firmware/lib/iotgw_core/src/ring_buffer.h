// Ring buffer of readings not yet acknowledged by the gateway.
//
// A reading leaves only from the front and only when the gateway acknowledged it (or rejected it
// for good), so after an outage the ring replays in the original order. When full, the oldest
// reading is dropped to make room (fresh telemetry beats stale) and the drop is counted, so the
// loss is visible on the gateway instead of silent.
//
// Storage is a fixed array chosen at compile time: inside the object (RingBuffer<T, N>) or outside
// it (ExternalRing, over DeviceMemory's array, which survives a reset); `set_limit` lowers the
// usable size at run time (the site config and the simulator's --ring pick it without a rebuild).
// RingView is the capacity-free interface the uplink works against.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace iotgw {

template <typename T>
class RingView {
 public:
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  bool full() const { return count_ >= limit_; }
  size_t limit() const { return limit_; }
  size_t capacity() const { return capacity_; }
  // Readings dropped because the ring was full, since boot.
  uint32_t dropped() const { return dropped_; }

  // i = 0 is the oldest reading.
  const T& at(size_t i) const { return items_[(head_ + i) % capacity_]; }
  T& at(size_t i) { return items_[(head_ + i) % capacity_]; }
  const T& front() const { return at(0); }
  const T& back() const { return at(count_ - 1); }

  // Appends; returns false if the oldest reading had to be dropped to make room.
  bool push(const T& item) {
    bool kept_all = true;
    if (count_ >= limit_) {
      pop_front(1);
      ++dropped_;
      kept_all = false;
    }
    items_[(head_ + count_) % capacity_] = item;
    ++count_;
    return kept_all;
  }

  // Removes up to n readings from the front; returns how many were removed.
  size_t pop_front(size_t n) {
    if (n > count_) n = count_;
    head_ = (head_ + n) % capacity_;
    count_ -= n;
    return n;
  }

  // Where the oldest reading sits in the storage array (DeviceMemory keeps it across resets).
  size_t head() const { return head_; }
  // Takes over a ring whose storage already holds `count` readings from `head` on.
  void restore(size_t head, size_t count, uint32_t dropped) {
    head_ = head < capacity_ ? head : 0;
    count_ = count <= capacity_ ? count : 0;
    dropped_ = dropped;
    while (count_ > limit_) {
      pop_front(1);
      ++dropped_;
    }
  }

  // 1..capacity; shrinking below the current fill drops (and counts) the oldest.
  void set_limit(size_t n) {
    if (n < 1) n = 1;
    if (n > capacity_) n = capacity_;
    limit_ = n;
    while (count_ > limit_) {
      pop_front(1);
      ++dropped_;
    }
  }

 protected:
  RingView(T* items, size_t capacity) : items_(items), capacity_(capacity), limit_(capacity) {}
  ~RingView() = default;

 private:
  T* items_;
  size_t capacity_;
  size_t limit_;
  size_t head_ = 0;
  size_t count_ = 0;
  uint32_t dropped_ = 0;
};

template <typename T, size_t Capacity>
class RingBuffer : public RingView<T> {
  static_assert(Capacity > 0, "ring needs room for at least one reading");

 public:
  RingBuffer() : RingView<T>(storage_, Capacity) {}
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;

 private:
  T storage_[Capacity] = {};
};

// A ring over storage that lives elsewhere (the Device's DeviceMemory).
template <typename T>
class ExternalRing final : public RingView<T> {
 public:
  ExternalRing(T* items, size_t capacity) : RingView<T>(items, capacity) {}
  ExternalRing(const ExternalRing&) = delete;
  ExternalRing& operator=(const ExternalRing&) = delete;
};

}  // namespace iotgw
