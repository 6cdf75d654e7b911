// Hands messages from a receive callback to a later poll, in fixed storage.
//
// Why: the WebSocket library delivers text in a callback during its loop(), while the uplink
// reads replies when it polls. The glue used to drop any reply of 192 bytes or more; a reply
// longer than a slot is now kept cut to the slot size instead (the gateway writes "ack" first,
// and parse_ws_reply accepts a cut reply's ack), so a long ack - one carrying a firmware offer,
// or a field the gateway adds later - is not lost. Only a full mailbox drops a message.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

namespace iotgw {

template <size_t Slots, size_t SlotSize>
class ReplyMailbox {
  static_assert(Slots > 0 && SlotSize > 0, "a mailbox needs room");

 public:
  // Keeps one message (its first SlotSize bytes); false when every slot is taken.
  bool put(const uint8_t* data, size_t len) {
    if (count_ == Slots) {
      ++dropped_;
      return false;
    }
    const size_t slot = (head_ + count_) % Slots;
    const size_t n = len < SlotSize ? len : SlotSize;
    if (n > 0) memcpy(text_[slot], data, n);
    len_[slot] = static_cast<uint16_t>(n);
    if (n < len) ++truncated_;
    ++count_;
    return true;
  }

  // Copies the oldest message into buf (at most cap bytes) and removes it; its length, or 0
  // when the mailbox is empty.
  size_t take(char* buf, size_t cap) {
    if (count_ == 0) return 0;
    const size_t n = len_[head_] < cap ? len_[head_] : cap;
    memcpy(buf, text_[head_], n);
    head_ = (head_ + 1) % Slots;
    --count_;
    return n;
  }

  void clear() { head_ = count_ = 0; }
  size_t count() const { return count_; }
  uint32_t truncated() const { return truncated_; }
  uint32_t dropped() const { return dropped_; }

 private:
  char text_[Slots][SlotSize] = {};
  uint16_t len_[Slots] = {};
  size_t head_ = 0;
  size_t count_ = 0;
  uint32_t truncated_ = 0;
  uint32_t dropped_ = 0;
};

}  // namespace iotgw
