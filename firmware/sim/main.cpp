// iotgw-sim: N simulated ESP32 boards against a real gateway.
//
//   iotgw-sim --gateway host:port --devices N --rate R --duration S --transport http|ws
//             [--ring N] [--group G] [--key K] [--batch N] [--drain S] [--no-ts] [--verbose]
//
// Each device runs the firmware's own Device loop (same payload, ring buffer, backoff and uplink
// state machine) in its own thread with a fresh boot_id. After --duration seconds of sampling it
// keeps sending until its ring is empty (or --drain seconds pass). The last line on stdout is one
// JSON object: totals plus, per device, the acked seq ranges, so a test can check every
// acknowledged reading on the gateway.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sim_device.h"

namespace {

[[noreturn]] void usage(const char* why) {
  fprintf(stderr, "iotgw-sim: %s\n", why);
  fprintf(stderr,
          "usage: iotgw-sim --gateway host:port [--devices N] [--rate R] [--duration S] [--transport http|ws]\n"
          "                 [--ring N] [--group G] [--key K] [--batch N] [--drain S] [--no-ts] [--verbose]\n");
  exit(2);
}

double number(const char* flag, const char* v, double lo, double hi) {
  char* end = nullptr;
  const double d = strtod(v, &end);
  if (end == v || *end != '\0' || d < lo || d > hi) usage((std::string("bad value for ") + flag).c_str());
  return d;
}

sim::SimOptions parse(int argc, char** argv) {
  sim::SimOptions o;
  bool have_gateway = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--gateway") {
      const std::string g = next();
      const size_t colon = g.rfind(':');
      if (colon == std::string::npos || colon == 0) usage("--gateway wants host:port");
      o.host = g.substr(0, colon);
      o.port = static_cast<uint16_t>(number("--gateway", g.c_str() + colon + 1, 1, 65535));
      have_gateway = true;
    } else if (a == "--devices") {
      o.devices = static_cast<int>(number("--devices", next(), 1, 2000));
    } else if (a == "--rate") {
      o.rate = number("--rate", next(), 0.001, 1000);
    } else if (a == "--duration") {
      o.duration_s = number("--duration", next(), 0, 86400);
    } else if (a == "--drain") {
      o.drain_s = number("--drain", next(), 0, 86400);
    } else if (a == "--transport") {
      o.transport = next();
      if (o.transport != "http" && o.transport != "ws") usage("--transport is http or ws");
    } else if (a == "--ring") {
      o.ring = static_cast<size_t>(number("--ring", next(), 1, sim::kSimRingCap));
    } else if (a == "--batch") {
      o.batch = static_cast<uint16_t>(number("--batch", next(), 1, 1000));
    } else if (a == "--group") {
      o.group = next();
    } else if (a == "--key") {
      o.key = next();
    } else if (a == "--no-ts") {
      o.ts = false;
    } else if (a == "--verbose") {
      o.verbose = true;
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (!have_gateway) usage("--gateway is required");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const sim::SimOptions opt = parse(argc, argv);
  uint8_t base[4];
  if (getrandom(base, sizeof base, 0) != static_cast<ssize_t>(sizeof base)) return 1;

  std::vector<std::unique_ptr<sim::SimDevice>> devices;
  for (int i = 0; i < opt.devices; ++i) {
    // Locally administered MACs (0x02 prefix): random per run, distinct per device.
    const uint8_t mac[6] = {0x02, base[0], base[1], base[2], static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    uint32_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed)) return 1;
    devices.push_back(std::make_unique<sim::SimDevice>(opt, i, mac, seed));
  }
  std::vector<std::thread> threads;
  for (auto& d : devices) threads.emplace_back([&d] { d->run(); });
  for (auto& t : threads) t.join();

  uint64_t produced = 0, acked = 0, dropped = 0, rejected = 0, pending = 0, retried = 0, sent = 0, requests = 0,
           failures = 0, ws_opens = 0;
  std::string list;
  for (const auto& d : devices) {
    const auto& dev = d->device();
    const iotgw::UplinkStats& st = dev.uplink().stats();
    produced += d->produced();
    acked += st.acked;
    dropped += dev.ring().dropped();
    rejected += st.rejected;
    pending += dev.ring().size();
    retried += st.retried;
    sent += st.sent;
    requests += st.requests;
    failures += st.failures;
    ws_opens += st.ws_opens;
    if (!list.empty()) list += ",";
    list += "{\"device_id\":\"" + std::string(dev.identity().device_id) + "\",\"boot_id\":\"" +
            dev.identity().boot_id + "\",\"group_id\":\"" + dev.identity().group_id +
            "\",\"produced\":" + std::to_string(d->produced()) + ",\"acked\":" + std::to_string(st.acked) +
            ",\"dropped\":" + std::to_string(dev.ring().dropped()) + ",\"rejected\":" + std::to_string(st.rejected) +
            ",\"pending\":" + std::to_string(dev.ring().size()) + ",\"acked_ranges\":[";
    bool first = true;
    for (const auto& r : d->acked_ranges()) {
      list += (first ? "[" : ",[") + std::to_string(r.first) + "," + std::to_string(r.second) + "]";
      first = false;
    }
    list += "]}";
  }
  printf("{\"transport\":\"%s\",\"devices\":%d,\"produced\":%llu,\"acked\":%llu,\"dropped\":%llu,\"rejected\":%llu,"
         "\"pending\":%llu,\"retried\":%llu,\"sent\":%llu,\"requests\":%llu,\"failures\":%llu,\"ws_opens\":%llu,"
         "\"device_list\":[%s]}\n",
         opt.transport.c_str(), opt.devices, (unsigned long long)produced, (unsigned long long)acked,
         (unsigned long long)dropped, (unsigned long long)rejected, (unsigned long long)pending,
         (unsigned long long)retried, (unsigned long long)sent, (unsigned long long)requests,
         (unsigned long long)failures, (unsigned long long)ws_opens, list.c_str());
  fflush(stdout);
  return 0;
}
