#include "report.h"

#include <stdio.h>

namespace sim {

namespace {

// Text from the board or the gateway (versions, reasons) escaped for a JSON string.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned char>(c));
      out += esc;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string ranges(const std::vector<std::pair<uint32_t, uint32_t>>& r) {
  std::string out = "[";
  for (size_t i = 0; i < r.size(); ++i) {
    out += (i ? ",[" : "[") + std::to_string(r[i].first) + "," + std::to_string(r[i].second) + "]";
  }
  return out + "]";
}

std::string device_json(const SimDevice& d) {
  const auto& boots = d.boots();
  const SimBoot& last = boots.back();
  const iotgw::UplinkStats& st = d.uplink_totals();
  const iotgw::UpdateStats& up = d.update_totals();
  uint32_t produced = 0;
  std::string boot_list;
  for (const SimBoot& b : boots) {
    produced += b.produced;
    if (!boot_list.empty()) boot_list += ",";
    boot_list += "{\"boot_id\":" + quoted(b.boot_id) + ",\"fw\":" + quoted(b.fw) +
                 ",\"produced\":" + std::to_string(b.produced) + ",\"acked_ranges\":" + ranges(b.acked) + "}";
  }
  std::string events;
  for (const SimUpdateEvent& e : d.events()) {
    if (!events.empty()) events += ",";
    events += "{\"t_ms\":" + std::to_string(e.t_ms) + ",\"event\":" + quoted(e.event) + ",\"version\":" +
              quoted(e.version) + ",\"detail\":" + quoted(e.detail) + "}";
  }
  const auto& ring = d.ring();
  return "{\"device_id\":" + quoted(d.device_id()) + ",\"group_id\":" + quoted(d.group_id()) +
         ",\"boot_id\":" + quoted(last.boot_id) + ",\"fw\":" + quoted(last.fw) +
         ",\"produced\":" + std::to_string(produced) + ",\"acked\":" + std::to_string(st.acked) +
         ",\"dropped\":" + std::to_string(ring.dropped) + ",\"rejected\":" + std::to_string(st.rejected) +
         ",\"pending\":" + std::to_string(ring.pending) + ",\"acked_ranges\":" + ranges(last.acked) +
         ",\"boots\":[" + boot_list + "],\"updates\":[" + events + "],\"update_stats\":{\"offers\":" +
         std::to_string(up.offers) + ",\"downloads\":" + std::to_string(up.downloads) +
         ",\"resumes\":" + std::to_string(up.resumes) + ",\"failures\":" + std::to_string(up.failures) +
         ",\"bytes\":" + std::to_string(up.bytes) + "}}";
}

}  // namespace

std::string report_json(const SimOptions& opt, const std::vector<std::unique_ptr<SimDevice>>& devices) {
  unsigned long long produced = 0, acked = 0, dropped = 0, rejected = 0, pending = 0, retried = 0, sent = 0,
                     requests = 0, failures = 0, ws_opens = 0;
  std::string list;
  for (const auto& d : devices) {
    const iotgw::UplinkStats& st = d->uplink_totals();
    for (const SimBoot& b : d->boots()) produced += b.produced;
    acked += st.acked;
    dropped += d->ring().dropped;
    rejected += st.rejected;
    pending += d->ring().pending;
    retried += st.retried;
    sent += st.sent;
    requests += st.requests;
    failures += st.failures;
    ws_opens += st.ws_opens;
    if (!list.empty()) list += ",";
    list += device_json(*d);
  }
  return "{\"transport\":" + quoted(opt.transport) + ",\"devices\":" + std::to_string(opt.devices) +
         ",\"produced\":" + std::to_string(produced) + ",\"acked\":" + std::to_string(acked) +
         ",\"dropped\":" + std::to_string(dropped) + ",\"rejected\":" + std::to_string(rejected) +
         ",\"pending\":" + std::to_string(pending) + ",\"retried\":" + std::to_string(retried) +
         ",\"sent\":" + std::to_string(sent) + ",\"requests\":" + std::to_string(requests) +
         ",\"failures\":" + std::to_string(failures) + ",\"ws_opens\":" + std::to_string(ws_opens) +
         ",\"device_list\":[" + list + "]}";
}

}  // namespace sim
