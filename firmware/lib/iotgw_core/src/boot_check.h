// What this boot means for an OTA update, from facts the glue reads at boot.
//
// Before switching, the board records what it switches to (FlashTarget::finish: NVS on the
// board). ESP-IDF's app rollback then boots the new image "on trial" (ESP_OTA_IMG_PENDING_VERIFY);
// if it restarts before marking itself valid, the bootloader marks it aborted and boots the
// previous image. So at boot, the record and the partition states tell:
//   - no record                                   -> a normal boot;
//   - running the recorded slot, on trial          -> the new image's first boots: report
//                                                     `updated`, confirm once a reading is acked;
//   - running the recorded slot, already valid     -> confirmed earlier (or a bootloader without
//                                                     rollback): report `updated`, clear the record;
//   - running another slot, recorded slot invalid  -> rolled back: report `rolled_back` for the
//                                                     recorded version, clear the record;
//   - running another slot, recorded slot fine     -> the switch never happened (power cut between
//                                                     the record and the switch): clear the record.
#pragma once

#include <stdint.h>

#include "firmware_offer.h"

namespace iotgw {

struct BootFacts {
  bool has_record;            // an update was switched to before this boot
  FirmwareOffer record;       // what it switched to
  bool running_record_slot;   // this boot runs the slot the record switched to
  bool pending_verify;        // ... and that image is on trial
  bool record_slot_invalid;   // the recorded slot was marked invalid or aborted
};

enum class BootKind : uint8_t { kNormal, kTrial, kUpdated, kRolledBack, kSwitchNotMade };

struct BootOutcome {
  BootKind kind;
  FirmwareOffer record;  // the image concerned (kTrial, kUpdated, kRolledBack)
  bool clear_record;     // the glue forgets the record now (kTrial: once confirmed)
};

BootOutcome decide_boot(const BootFacts& f);

}  // namespace iotgw
