#include "telemetry.h"

namespace iotgw {

const char* reset_reason_name(ResetReason r) {
  switch (r) {
    case ResetReason::kPowerOn: return "POWERON";
    case ResetReason::kExternal: return "EXTERNAL";
    case ResetReason::kSoftware: return "SOFTWARE";
    case ResetReason::kPanic: return "PANIC";
    case ResetReason::kIntWdt: return "INT_WDT";
    case ResetReason::kTaskWdt: return "TASK_WDT";
    case ResetReason::kWdt: return "WDT";
    case ResetReason::kDeepSleep: return "DEEPSLEEP";
    case ResetReason::kBrownout: return "BROWNOUT";
    case ResetReason::kSdio: return "SDIO";
    case ResetReason::kUnknown: break;
  }
  return "UNKNOWN";
}

const char* update_state_name(UpdateState s) {
  switch (s) {
    case UpdateState::kDownloading: return "downloading";
    case UpdateState::kFailed: return "failed";
    case UpdateState::kUpdated: return "updated";
    case UpdateState::kRolledBack: return "rolled_back";
    case UpdateState::kNone: break;
  }
  return "";
}

}  // namespace iotgw
