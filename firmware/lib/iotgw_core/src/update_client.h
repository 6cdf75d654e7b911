// The board's side of an over-the-air update (docs/firmware-updates.md), as a state machine the
// loop ticks, so sampling and sending go on while an image downloads:
//
//   offer -> wait for an empty ring (or ring_wait_ms) -> download into the inactive slot while
//   hashing, resuming with Range after a dropped connection, backing off between attempts ->
//   check size and SHA-256 -> switch (restart) -> on trial: confirm after the first acknowledged
//   reading, or roll back when none came within confirm_timeout_ms.
//
// A failed image (hash or size mismatch, refused download, no room) is reported as `failed`,
// dropped, and not taken again from the gateway for failed_wait_ms. A dropped connection is not
// a failure: the download resumes where it stopped. The glue only moves bytes (ImageSource,
// FlashTarget) and carries out the actions tick() returns.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "boot_check.h"
#include "endpoint.h"
#include "firmware_offer.h"
#include "sha256.h"
#include "telemetry.h"
#include "update_ports.h"

namespace iotgw {

struct UpdateConfig {
  uint32_t max_image_size;      // the OTA slot (min_spiffs.csv: 0x1E0000)
  uint32_t ring_wait_ms;        // longest wait for an empty ring before downloading anyway
  uint32_t retry_base_ms;       // backoff after a dropped download, which then resumes
  uint32_t retry_cap_ms;
  uint32_t failed_wait_ms;      // a failed image is not taken again for this long
  uint32_t read_budget;         // bytes per tick at most
  uint32_t confirm_timeout_ms;  // the new image rolls back when no reading was acked by then
};

enum class UpdatePhase : uint8_t {
  kIdle,
  kWaiting,      // offered; waiting for an empty ring
  kDownloading,
  kRetryWait,    // the connection dropped; resume after a backoff
  kSwitching,    // verified and made the boot image; the glue restarts
  kTrial,        // this boot is the new image, not confirmed yet
};

enum class UpdateAction : uint8_t {
  kNone,
  kRestart,   // a verified image is the boot image now: restart into it
  kConfirm,   // mark the running image valid (esp_ota_mark_app_valid_cancel_rollback) and forget the record
  kRollback,  // mark the running image invalid and go back (esp_ota_mark_app_invalid_rollback_and_reboot)
};

// Where the client's `fw_update` news goes (the Device puts it into the readings).
class UpdateNewsSink {
 public:
  virtual void update_news(UpdateState state, const char* version, const char* reason) = 0;

 protected:
  ~UpdateNewsSink() = default;
};

struct UpdateStats {
  uint32_t offers;      // valid offers taken
  uint32_t ignored;     // offers not taken (invalid, running, refused, busy with it)
  uint32_t downloads;   // download requests the gateway answered (the first and every resume)
  uint32_t resumes;     // of which resumed at an offset > 0
  uint32_t failures;    // failed images
  uint32_t bytes;       // image bytes received
};

class UpdateClient {
 public:
  UpdateClient(const UpdateConfig& cfg, const char* running_version, ImageSource* source, FlashTarget* flash,
               UpdateNewsSink& news, Rng& rng);

  // Once at boot, with what decide_boot() found: on trial, after a rollback, or nothing.
  void start(uint64_t now_ms, const BootOutcome& boot);
  // An offer from the gateway.
  void offer(uint64_t now_ms, const FirmwareOffer& o);
  // A reading of this boot was acknowledged (confirms an image on trial).
  void on_acked_this_boot() { acked_this_boot_ = true; }
  // A reading carrying news in `state` was acknowledged.
  void on_news_delivered(UpdateState state);

  UpdateAction tick(uint64_t now_ms, const Endpoint* gateway, bool ring_empty);

  UpdatePhase phase() const { return phase_; }
  // Anything in progress the board should stay awake for.
  bool busy() const { return phase_ != UpdatePhase::kIdle; }
  const FirmwareOffer& target() const { return target_; }
  uint32_t offset() const { return offset_; }
  // Where the last download request started (0, or the offset a resume asked for).
  uint32_t request_offset() const { return request_offset_; }
  const UpdateStats& stats() const { return stats_; }

 private:
  bool begin_download();
  UpdateAction download(uint64_t now_ms, const Endpoint& gw);
  UpdateAction verify_and_switch(uint64_t now_ms);
  void fail(uint64_t now_ms, const char* reason);
  void drop_connection(uint64_t now_ms);
  void abandon();

  UpdateConfig cfg_;
  char running_[kVersionMax + 1];
  ImageSource* source_;
  FlashTarget* flash_;
  UpdateNewsSink& news_;
  Rng& rng_;
  Backoff backoff_;
  UpdateStats stats_ = {};

  UpdatePhase phase_ = UpdatePhase::kIdle;
  FirmwareOffer target_ = {};
  uint64_t offered_at_ = 0;
  uint64_t retry_at_ = 0;
  uint64_t confirm_by_ = 0;
  bool connected_ = false;
  bool flash_open_ = false;
  uint32_t offset_ = 0;
  uint32_t request_offset_ = 0;
  Sha256 sha_;
  bool acked_this_boot_ = false;
  // The image this board rolled back from: not taken again until the gateway has our report.
  char refused_sha_[65] = {};
  // A failed image: not taken again before failed_until_.
  char failed_sha_[65] = {};
  uint64_t failed_until_ = 0;
  uint8_t buf_[1024];
};

}  // namespace iotgw
