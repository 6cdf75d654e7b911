#include "payload.h"

#include <math.h>

#include "num_format.h"

namespace iotgw {

size_t format_uptime(char* out, size_t cap, uint64_t uptime_ms) {
  uint64_t secs = uptime_ms / 1000;
  const uint64_t days = secs / 86400;
  secs %= 86400;
  const uint64_t parts[3] = {secs / 3600, (secs % 3600) / 60, secs % 60};
  size_t len = format_uint(out, cap, days);
  if (len == 0 || len + 10 > cap) return 0;  // "d hh:mm:ss" + NUL
  out[len++] = 'd';
  out[len++] = ' ';
  for (int i = 0; i < 3; ++i) {
    if (i > 0) out[len++] = ':';
    out[len++] = static_cast<char>('0' + parts[i] / 10);
    out[len++] = static_cast<char>('0' + parts[i] % 10);
  }
  out[len] = '\0';
  return len;
}

void write_reading(JsonWriter& w, const Identity& id, const Sample& s, const UpdateNews* news) {
  w.begin_object();
  w.field_string("device_id", id.device_id);
  w.field_string("group_id", id.group_id);
  w.field_string("device_type", id.device_type);
  w.field_string("boot_id", id.boot_id);
  w.field_uint("seq", s.seq);
  if (s.ts_ms > 0) w.field_int("ts", s.ts_ms);  // only once SNTP has set the clock

  char uptime[32];
  if (format_uptime(uptime, sizeof uptime, s.uptime_ms) == 0) uptime[0] = '\0';
  w.field_uint("uptime_ms", s.uptime_ms);
  w.field_string("uptime_str", uptime);
  w.field_string("reset_reason", reset_reason_name(s.reset_reason));
  w.field_uint("loop_count", s.loop_count);

  const uint32_t used = s.heap_total >= s.heap_free ? s.heap_total - s.heap_free : 0;
  w.field_uint("heap_free", s.heap_free);
  w.field_uint("heap_total", s.heap_total);
  w.field_uint("heap_used", used);
  // 0/0 is NaN and becomes null: "unknown", not a made-up 0 %.
  const double pct = s.heap_total > 0 ? 100.0 * used / s.heap_total : static_cast<double>(NAN);
  w.field_double("heap_used_percent", pct, 2);
  w.field_uint("psram_free", s.psram_free);
  w.field_uint("psram_total", s.psram_total);

  w.field_uint("cpu_freq_mhz", s.cpu_freq_mhz);
  w.field_double("cpu_temp_c", s.cpu_temp_c, 1);
  w.field_string("chip_model", id.chip_model);
  w.field_uint("chip_cores", s.chip_cores);
  w.field_uint("chip_revision", s.chip_revision);
  w.field_uint("flash_size", s.flash_size);
  w.field_int("wifi_rssi", s.wifi_rssi);
  char ip[16] = "0.0.0.0";
  format_ipv4(ip, sizeof ip, s.local_ip);
  w.field_string("local_ip", ip);

  if (id.fw_version[0] != '\0') w.field_string("fw", id.fw_version);
  if (news != nullptr && news->state != UpdateState::kNone) {
    w.key("fw_update");
    w.begin_object();
    w.field_string("state", update_state_name(news->state));
    w.field_string("version", news->version);
    if (news->reason[0] != '\0') w.field_string("reason", news->reason);
    w.end_object();
  }
  w.end_object();
}

size_t build_reading(char* buf, size_t cap, const Identity& id, const Sample& s, const UpdateNews* news) {
  JsonWriter w(buf, cap);
  write_reading(w, id, s, news);
  return w.finish();
}

BatchResult build_batch(char* buf, size_t cap, BatchForm form, uint32_t msg_seq, const ReadingBook& book,
                        const SampleSource& src, size_t first, size_t max_readings) {
  BatchResult r{0, 0};
  JsonWriter w(buf, cap);
  w.begin_object();
  if (form == BatchForm::kWebSocket) w.field_uint("seq", msg_seq);
  w.key("readings");
  w.begin_array();
  const size_t avail = src.count() > first ? src.count() - first : 0;
  const size_t limit = max_readings < avail ? max_readings : avail;
  static constexpr size_t kClosers = 2;  // "]}"
  for (size_t i = 0; i < limit; ++i) {
    const JsonWriter::Mark m = w.mark();
    const Sample& s = src.sample_at(first + i);
    write_reading(w, book.identity_of(s), s, book.news_of(s));
    if (!w.ok() || w.remaining() < kClosers) {
      w.rollback(m);
      break;
    }
    ++r.readings;
  }
  if (r.readings == 0) {
    JsonWriter(buf, cap).finish();  // leave an empty string, never a half document
    return r;
  }
  w.end_array();
  w.end_object();
  r.length = w.finish();
  if (r.length == 0) r.readings = 0;
  return r;
}

}  // namespace iotgw
