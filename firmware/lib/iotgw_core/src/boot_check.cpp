#include "boot_check.h"

namespace iotgw {

BootOutcome decide_boot(const BootFacts& f) {
  BootOutcome o{};
  if (!f.has_record) {
    o.kind = BootKind::kNormal;
    return o;
  }
  o.record = f.record;
  if (f.running_record_slot) {
    o.kind = f.pending_verify ? BootKind::kTrial : BootKind::kUpdated;
    o.clear_record = !f.pending_verify;
  } else {
    o.kind = f.record_slot_invalid ? BootKind::kRolledBack : BootKind::kSwitchNotMade;
    o.clear_record = true;
  }
  return o;
}

}  // namespace iotgw
