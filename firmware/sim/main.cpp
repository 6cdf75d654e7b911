// iotgw-sim: N simulated ESP32 boards against a real gateway.
//
// Each device runs the firmware's own Device loop (same payload, ring buffer, backoff, uplink
// and OTA update client) in its own thread. After --duration seconds of sampling it keeps going
// until its ring is empty and no update is under way (or --drain seconds pass). The last line on
// stdout is one JSON object: totals plus, per device, every boot with its acked seq ranges and the
// update events it saw, so a test can check each acknowledged reading on the gateway.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "report.h"
#include "sim_device.h"
#include "version.h"

namespace {

[[noreturn]] void usage(const char* why) {
  fprintf(stderr, "iotgw-sim: %s\n", why);
  fprintf(stderr,
          "usage: iotgw-sim --gateway host:port [--devices N] [--rate R] [--duration S] [--transport http|ws]\n"
          "                 [--ring N] [--group G] [--key K] [--batch N] [--drain S] [--no-ts] [--verbose]\n"
          "                 [--fw V] [--confirm-timeout-ms N] [--download-bps N] [--update-wait-ms N]\n"
          "                 [--max-image-bytes N] [--failed-wait-ms N]\n"
          "\n"
          "Updates: each device reports fw (--fw, default 0.1.0) and follows the gateway's firmware offers as a\n"
          "board does: waits for an empty ring (at most --update-wait-ms, default 600000), downloads\n"
          "GET /firmware/<sha256>.bin (resuming with Range; --download-bps throttles it, 0 = unthrottled),\n"
          "checks size and SHA-256, reboots into the offered version with a new boot_id, and confirms after\n"
          "its first acknowledged reading, or rolls back after --confirm-timeout-ms (default 600000). An\n"
          "image containing the text %s boots a version that cannot reach the gateway,\n"
          "so it rolls back and reports rolled_back. After a failed image (sha256 mismatch, ...) the same\n"
          "image is not taken again for --failed-wait-ms (default 1800000, as the board). Offers larger than\n"
          "--max-image-bytes (default 1966080, the board's OTA slot) are ignored; on loopback a gateway\n"
          "stopped mid-download has usually handed up to 4 MB to the kernel already, so a test of a resumed\n"
          "download needs a larger image and a larger --max-image-bytes.\n"
          "\n"
          "Last stdout line, JSON: transport, devices, produced, acked, dropped, rejected, pending, retried,\n"
          "sent, requests, failures, ws_opens, device_list[]: {device_id, group_id, boot_id and acked_ranges\n"
          "(of the last boot), fw (running at the end), produced, acked, dropped, rejected, pending,\n"
          "boots[]: {boot_id, fw, produced, acked_ranges}, updates[]: {t_ms, event, version, detail} with\n"
          "event one of offered, download_started, download_resumed, failed, verified, rebooted, confirmed,\n"
          "rolled_back, update_stats: {offers, downloads, resumes, failures, bytes}}.\n",
          sim::kCannotReportMarker);
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
    } else if (a == "--fw") {
      o.fw = next();
      if (!iotgw::valid_version(o.fw.c_str())) usage("--fw wants a semantic version of at most 31 characters, e.g. 0.1.0");
    } else if (a == "--confirm-timeout-ms") {
      o.confirm_timeout_ms = static_cast<uint32_t>(number("--confirm-timeout-ms", next(), 1, 86400000));
    } else if (a == "--download-bps") {
      o.download_bps = static_cast<uint32_t>(number("--download-bps", next(), 0, 1e9));
    } else if (a == "--max-image-bytes") {
      o.max_image_bytes = static_cast<uint32_t>(number("--max-image-bytes", next(), 1, 4294967295.0));
    } else if (a == "--failed-wait-ms") {
      o.failed_wait_ms = static_cast<uint32_t>(number("--failed-wait-ms", next(), 0, 86400000));
    } else if (a == "--update-wait-ms") {
      o.update_wait_ms = static_cast<uint32_t>(number("--update-wait-ms", next(), 0, 86400000));
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
  printf("%s\n", sim::report_json(opt, devices).c_str());
  fflush(stdout);
  return 0;
}
