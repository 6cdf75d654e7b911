// Payload builder: every document is parsed by nlohmann::json, a real JSON parser.
#include <doctest.h>
#include <math.h>
#include <nlohmann/json.hpp>

#include <string>

#include "fakes.h"
#include "iotgw_core.h"

using nlohmann::json;

namespace {

json build_one(const iotgw::Identity& id, const iotgw::Sample& s) {
  char buf[1024];
  const size_t n = iotgw::build_reading(buf, sizeof buf, id, s);
  REQUIRE(n > 0);
  REQUIRE(n == strlen(buf));
  return json::parse(buf);
}

std::string fmt_double(double v, int decimals) {
  char buf[40];
  const size_t n = iotgw::format_double(buf, sizeof buf, v, decimals);
  return std::string(buf, n);
}

const iotgw::Identity kId = fakes::identity();
const iotgw::FixedBook book(kId);

struct VecSource final : iotgw::SampleSource {
  std::vector<iotgw::Sample> v;
  size_t count() const override { return v.size(); }
  const iotgw::Sample& sample_at(size_t i) const override { return v.at(i); }
};

}  // namespace

TEST_CASE("a reading carries every field of the original sketch with the right JSON types") {
  const json j = build_one(fakes::identity(), fakes::sample(7));
  const char* strings[] = {"device_id", "group_id", "device_type", "uptime_str", "reset_reason",
                           "chip_model", "local_ip", "boot_id"};
  for (const char* k : strings) {
    INFO(k);
    REQUIRE(j.contains(k));
    CHECK(j[k].is_string());
  }
  const char* unsigned_ints[] = {"uptime_ms", "loop_count", "heap_free", "heap_total", "heap_used",
                                 "psram_free", "psram_total", "cpu_freq_mhz", "chip_cores",
                                 "chip_revision", "flash_size", "seq", "ts"};
  for (const char* k : unsigned_ints) {
    INFO(k);
    REQUIRE(j.contains(k));
    CHECK(j[k].is_number_integer());
  }
  CHECK(j["wifi_rssi"].get<int>() == -61);
  CHECK(j["heap_used_percent"].is_number_float());
  CHECK(j["cpu_temp_c"].is_number());
  CHECK(j["device_id"] == "esp32-a4cf12345678");
  CHECK(j["group_id"] == "net-192-168-1-1");
  CHECK(j["device_type"] == "esp32");
  CHECK(j["seq"] == 7);
  CHECK(j["ts"] == 1700000000007LL);
  CHECK(j["heap_used"] == 100000);
  CHECK(j["heap_used_percent"].get<double>() == doctest::Approx(33.33).epsilon(0.0001));
  CHECK(j["cpu_temp_c"].get<double>() == doctest::Approx(47.3).epsilon(0.001));
  CHECK(j["uptime_str"] == "1d 02:03:04");
  CHECK(j["chip_model"] == "ESP32-D0WDQ6");
  CHECK(j["local_ip"] == "192.168.1.50");
  CHECK(j["reset_reason"] == "POWERON");
  CHECK(j["fw"] == "0.1.0");
  CHECK(j.size() == 25);  // 21 sketch fields + seq, boot_id, ts, fw: nothing else slips in
}

TEST_CASE("fw is left out when the identity has no version; fw_update only with news") {
  iotgw::Identity id = fakes::identity();
  id.fw_version[0] = '\0';
  json j = build_one(id, fakes::sample(1));
  CHECK_FALSE(j.contains("fw"));
  CHECK_FALSE(j.contains("fw_update"));
  iotgw::UpdateNews none{};
  char buf[1024];
  REQUIRE(iotgw::build_reading(buf, sizeof buf, fakes::identity(), fakes::sample(1), &none) > 0);
  CHECK_FALSE(json::parse(buf).contains("fw_update"));
}

TEST_CASE("fw_update carries state, version and a reason only when there is one") {
  iotgw::UpdateNews n{};
  n.state = iotgw::UpdateState::kFailed;
  iotgw::copy_str(n.version, sizeof n.version, "0.2.0");
  iotgw::copy_str(n.reason, sizeof n.reason, "sha256 mismatch");
  char buf[1024];
  REQUIRE(iotgw::build_reading(buf, sizeof buf, fakes::identity(), fakes::sample(3), &n) > 0);
  json j = json::parse(buf);
  CHECK(j["fw_update"] == json::parse(R"({"state":"failed","version":"0.2.0","reason":"sha256 mismatch"})"));
  CHECK(j["fw"] == "0.1.0");
  const std::pair<iotgw::UpdateState, const char*> states[] = {{iotgw::UpdateState::kDownloading, "downloading"},
                                                                 {iotgw::UpdateState::kUpdated, "updated"},
                                                                 {iotgw::UpdateState::kRolledBack, "rolled_back"}};
  for (const auto& st : states) {
    n.state = st.first;
    n.reason[0] = '\0';
    REQUIRE(iotgw::build_reading(buf, sizeof buf, fakes::identity(), fakes::sample(3), &n) > 0);
    j = json::parse(buf);
    CHECK(j["fw_update"]["state"] == st.second);
    CHECK_FALSE(j["fw_update"].contains("reason"));
  }
}

TEST_CASE("every reset reason has the original sketch's name") {
  const std::pair<iotgw::ResetReason, const char*> names[] = {
      {iotgw::ResetReason::kPowerOn, "POWERON"},   {iotgw::ResetReason::kExternal, "EXTERNAL"},
      {iotgw::ResetReason::kSoftware, "SOFTWARE"}, {iotgw::ResetReason::kPanic, "PANIC"},
      {iotgw::ResetReason::kIntWdt, "INT_WDT"},    {iotgw::ResetReason::kTaskWdt, "TASK_WDT"},
      {iotgw::ResetReason::kWdt, "WDT"},           {iotgw::ResetReason::kDeepSleep, "DEEPSLEEP"},
      {iotgw::ResetReason::kBrownout, "BROWNOUT"}, {iotgw::ResetReason::kSdio, "SDIO"},
      {iotgw::ResetReason::kUnknown, "UNKNOWN"}};
  for (const auto& n : names) {
    iotgw::Sample s = fakes::sample(1);
    s.reset_reason = n.first;
    CHECK(build_one(fakes::identity(), s)["reset_reason"] == n.second);
  }
  iotgw::Sample s = fakes::sample(1);
  s.reset_reason = static_cast<iotgw::ResetReason>(200);  // junk from an old memory layout
  CHECK(build_one(fakes::identity(), s)["reset_reason"] == "UNKNOWN");
}

TEST_CASE("ts is sent only when the clock is synced") {
  iotgw::Sample s = fakes::sample(1);
  s.ts_ms = 0;
  const json j = build_one(fakes::identity(), s);
  CHECK_FALSE(j.contains("ts"));
  CHECK(j.contains("seq"));
}

TEST_CASE("strings are escaped so any content round-trips") {
  iotgw::Identity id = fakes::identity();
  const std::string nasty = "a\"b\\c\nd\te\r\x01\x1f/\xc3\xa9";  // quote, backslash, controls, é
  iotgw::copy_str(id.device_type, sizeof id.device_type, nasty.c_str());
  iotgw::copy_str(id.chip_model, sizeof id.chip_model, "x\"},{\"evil\":1");
  const json j = build_one(id, fakes::sample(1));
  CHECK(j["device_type"].get<std::string>() == nasty);
  CHECK(j["chip_model"].get<std::string>() == "x\"},{\"evil\":1");
  CHECK_FALSE(j.contains("evil"));
}

TEST_CASE("invalid UTF-8 becomes U+FFFD instead of breaking the document") {
  iotgw::Identity id = fakes::identity();
  const char bad[] = {'o', 'k', static_cast<char>(0xff), static_cast<char>(0xc3), 'x',
                      static_cast<char>(0xed), static_cast<char>(0xa0), static_cast<char>(0x80), 0};
  iotgw::copy_str(id.device_type, sizeof id.device_type, bad);
  const json j = build_one(id, fakes::sample(1));
  const std::string t = j["device_type"].get<std::string>();
  CHECK(t.rfind("ok\xef\xbf\xbd\xef\xbf\xbdx", 0) == 0);
}

TEST_CASE("NaN and infinities become null, and unknown heap percentage is null") {
  iotgw::Sample s = fakes::sample(1);
  s.cpu_temp_c = NAN;
  s.heap_total = 0;
  s.heap_free = 0;
  json j = build_one(fakes::identity(), s);
  CHECK(j["cpu_temp_c"].is_null());
  CHECK(j["heap_used_percent"].is_null());
  s.cpu_temp_c = INFINITY;
  j = build_one(fakes::identity(), s);
  CHECK(j["cpu_temp_c"].is_null());
  s.cpu_temp_c = -INFINITY;
  j = build_one(fakes::identity(), s);
  CHECK(j["cpu_temp_c"].is_null());
}

TEST_CASE("extreme integers stay exact") {
  iotgw::Sample s = fakes::sample(0xFFFFFFFFu);
  s.uptime_ms = 0xFFFFFFFFFFFFFFFFull;
  s.wifi_rssi = -128;
  s.local_ip = 0xFFFFFFFFu;
  s.ts_ms = 0x7FFFFFFFFFFFFFFFLL;
  const json j = build_one(fakes::identity(), s);
  CHECK(j["seq"].get<uint64_t>() == 0xFFFFFFFFull);
  CHECK(j["uptime_ms"].get<uint64_t>() == 0xFFFFFFFFFFFFFFFFull);
  CHECK(j["wifi_rssi"].get<int64_t>() == -128);
  CHECK(j["local_ip"] == "255.255.255.255");
  CHECK(j["ts"].get<int64_t>() == 0x7FFFFFFFFFFFFFFFLL);
  char buf[24];
  const size_t n = iotgw::format_int(buf, sizeof buf, INT64_MIN);
  CHECK(std::string(buf, n) == "-9223372036854775808");
}

TEST_CASE("format_double rounds, never prints -0, and switches to exponent form when huge") {
  CHECK(fmt_double(0.0, 2) == "0.00");
  CHECK(fmt_double(-0.001, 2) == "0.00");
  CHECK(fmt_double(1.005, 0) == "1");
  CHECK(fmt_double(2.5, 0) == "3");
  CHECK(fmt_double(-12.345, 1) == "-12.3");
  CHECK(fmt_double(99.999, 2) == "100.00");
  CHECK(fmt_double(3.14159, 9) == "3.141590");  // decimals clamped to 6
  CHECK(fmt_double(NAN, 2).empty());
  CHECK(fmt_double(INFINITY, 2).empty());
  for (double v : {1e16, -3.5e200, 1.7976931348623157e308, 9.9999999e20}) {
    const std::string t = fmt_double(v, 2);
    INFO(t);
    const json j = json::parse(t);
    CHECK(j.get<double>() == doctest::Approx(v).epsilon(1e-5));
  }
  char tiny[3];
  CHECK(iotgw::format_double(tiny, sizeof tiny, 123.0, 0) == 3);
  CHECK(iotgw::format_double(tiny, sizeof tiny, 1234.0, 0) == 0);  // does not fit: nothing
}

TEST_CASE("uptime_str") {
  char buf[32];
  iotgw::format_uptime(buf, sizeof buf, 0);
  CHECK(std::string(buf) == "0d 00:00:00");
  iotgw::format_uptime(buf, sizeof buf, 59999);
  CHECK(std::string(buf) == "0d 00:00:59");
  iotgw::format_uptime(buf, sizeof buf, 400ull * 86400000ull + 23 * 3600000ull + 59 * 60000ull);
  CHECK(std::string(buf) == "400d 23:59:00");
}

TEST_CASE("HTTP batch holds readings in ring order") {
  VecSource src;
  for (uint32_t i = 0; i < 5; ++i) src.v.push_back(fakes::sample(100 + i));
  char buf[8192];
  const auto r = iotgw::build_batch(buf, sizeof buf, iotgw::BatchForm::kHttp, 0, book, src, 1, 10);
  REQUIRE(r.length > 0);
  CHECK(r.readings == 4);
  const json j = json::parse(buf);
  CHECK(j.size() == 1);
  CHECK(fakes::seqs(j) == std::vector<uint32_t>{101, 102, 103, 104});
  for (const auto& reading : j["readings"]) CHECK(reading["device_id"] == "esp32-a4cf12345678");
}

TEST_CASE("WebSocket batch carries the message seq the gateway acks") {
  VecSource src;
  src.v.push_back(fakes::sample(5));
  char buf[4096];
  const auto r = iotgw::build_batch(buf, sizeof buf, iotgw::BatchForm::kWebSocket, 42, book, src, 0, 8);
  REQUIRE(r.readings == 1);
  const json j = json::parse(buf);
  CHECK(j["seq"] == 42);
  CHECK(fakes::seqs(j) == std::vector<uint32_t>{5});
}

TEST_CASE("at every buffer size a batch is either empty or complete, valid JSON") {
  VecSource src;
  for (uint32_t i = 0; i < 4; ++i) src.v.push_back(fakes::sample(i));
  char big[8192];
  const size_t one = iotgw::build_reading(big, sizeof big, fakes::identity(), src.v[0]);
  REQUIRE(one > 0);
  size_t last_count = 0;
  for (size_t cap = 0; cap < 4 * one + 200; ++cap) {
    std::vector<char> buf(cap + 1, '#');
    const auto r = iotgw::build_batch(cap ? buf.data() : nullptr, cap, iotgw::BatchForm::kWebSocket, 9, book, src, 0, 4);
    INFO("cap=" << cap);
    if (r.readings == 0) {
      CHECK(r.length == 0);
      if (cap > 0) CHECK(buf[0] == '\0');
      continue;
    }
    REQUIRE(r.length < cap);
    CHECK(buf[r.length] == '\0');
    CHECK(buf[cap] == '#');  // never wrote past the buffer
    const json j = json::parse(std::string(buf.data(), r.length));
    CHECK(j["readings"].size() == r.readings);
    CHECK(r.readings >= last_count);  // more room never means fewer readings
    last_count = r.readings;
  }
  CHECK(last_count == 4);
}

TEST_CASE("a single reading that does not fit yields an empty string, not half a document") {
  char buf[100];
  memset(buf, 'x', sizeof buf);
  CHECK(iotgw::build_reading(buf, sizeof buf, fakes::identity(), fakes::sample(1)) == 0);
  CHECK(buf[0] == '\0');
}

TEST_CASE("the writer refuses unbalanced documents") {
  char buf[64];
  iotgw::JsonWriter w(buf, sizeof buf);
  w.begin_object();
  w.key("a");
  CHECK(w.finish() == 0);  // key without value, object not closed
  iotgw::JsonWriter w2(buf, sizeof buf);
  w2.end_array();
  CHECK(w2.finish() == 0);
  iotgw::JsonWriter w3(buf, sizeof buf);
  w3.begin_array();
  w3.value_bool(true);
  w3.value_null();
  w3.value_double(0.5, 1);
  w3.end_array();
  REQUIRE(w3.finish() > 0);
  CHECK(json::parse(buf) == json::parse("[true,null,0.5]"));
}
