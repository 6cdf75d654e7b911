// Builds the JSON the gateway ingests: one flat reading (the original sketch's fields, now valid
// JSON, plus seq, boot_id, ts, and the OTA protocol's fw and fw_update) and the batch forms for
// HTTP (`{"readings":[...]}`) and WebSocket (`{"seq":m,"readings":[...]}`, acked as `{"ack":m}`).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "json_writer.h"
#include "telemetry.h"

namespace iotgw {

// Writes the reading as one JSON object into an open writer (inside an array, or at top level).
// `id` is the session the sample was taken under; `news` the fw_update it carries, or nullptr.
void write_reading(JsonWriter& w, const Identity& id, const Sample& s, const UpdateNews* news = nullptr);

// One reading as a complete document; returns its length, 0 if it does not fit.
size_t build_reading(char* buf, size_t cap, const Identity& id, const Sample& s, const UpdateNews* news = nullptr);

// What a reading was taken under: its session's Identity and the update news it carries. The
// Device keeps these beside the ring (a sample holds only their slot numbers).
class ReadingBook {
 public:
  virtual const Identity& identity_of(const Sample& s) const = 0;
  virtual const UpdateNews* news_of(const Sample& s) const = 0;  // nullptr: none
  // Total order of readings across sessions (older session first, then seq): acks and
  // "sent through" marks compare these, since seq starts again at 0 in a new session.
  virtual uint64_t order_of(const Sample& s) const = 0;

 protected:
  ~ReadingBook() = default;
};

// One session and no news: the simplest book (tests, tools).
class FixedBook final : public ReadingBook {
 public:
  explicit FixedBook(const Identity& id) : id_(id) {}
  const Identity& identity_of(const Sample&) const override { return id_; }
  const UpdateNews* news_of(const Sample&) const override { return nullptr; }
  uint64_t order_of(const Sample& s) const override { return s.seq; }

 private:
  const Identity& id_;
};

// Where a batch gets its readings: a view of consecutive samples (the ring buffer's front).
class SampleSource {
 public:
  virtual size_t count() const = 0;
  virtual const Sample& sample_at(size_t i) const = 0;

 protected:
  ~SampleSource() = default;
};

struct BatchResult {
  size_t length;   // bytes of JSON, 0 if not even one reading fit
  size_t readings; // how many samples (from `first`) it holds
};

enum class BatchForm : uint8_t {
  kHttp,       // {"readings":[...]}
  kWebSocket,  // {"seq":m,"readings":[...]}
};

// Packs as many samples as fit (at most `max_readings`), starting at `first`, into a complete
// document. A sample that would overflow is rolled back, never cut in half.
BatchResult build_batch(char* buf, size_t cap, BatchForm form, uint32_t msg_seq, const ReadingBook& book,
                        const SampleSource& src, size_t first, size_t max_readings);

// "3d 04:05:06": uptime as the original sketch showed it to people.
size_t format_uptime(char* out, size_t cap, uint64_t uptime_ms);

}  // namespace iotgw
