// What a boot means for an update: the record written before the switch + the partition states.
#include <doctest.h>

#include "boot_check.h"
#include "fakes.h"

using iotgw::BootKind;

namespace {
iotgw::BootFacts facts(bool record, bool running_slot, bool pending, bool invalid) {
  iotgw::BootFacts f{};
  f.has_record = record;
  if (record) f.record = fakes::offer_for(fakes::image_bytes(64));
  f.running_record_slot = running_slot;
  f.pending_verify = pending;
  f.record_slot_invalid = invalid;
  return f;
}
}  // namespace

TEST_CASE("no record: a normal boot, nothing to clear") {
  const auto o = iotgw::decide_boot(facts(false, false, false, false));
  CHECK(o.kind == BootKind::kNormal);
  CHECK_FALSE(o.clear_record);
}

TEST_CASE("the new image on trial keeps the record until it confirms") {
  const auto o = iotgw::decide_boot(facts(true, true, true, false));
  CHECK(o.kind == BootKind::kTrial);
  CHECK_FALSE(o.clear_record);
  CHECK(std::string(o.record.version) == "0.2.0");
}

TEST_CASE("the new image already valid: updated, record cleared") {
  const auto o = iotgw::decide_boot(facts(true, true, false, false));
  CHECK(o.kind == BootKind::kUpdated);
  CHECK(o.clear_record);
}

TEST_CASE("the old image with the new slot invalid: rolled back, for the recorded version") {
  const auto o = iotgw::decide_boot(facts(true, false, false, true));
  CHECK(o.kind == BootKind::kRolledBack);
  CHECK(o.clear_record);
  CHECK(std::string(o.record.version) == "0.2.0");
}

TEST_CASE("the old image with the new slot untouched: the switch never happened") {
  const auto o = iotgw::decide_boot(facts(true, false, false, false));
  CHECK(o.kind == BootKind::kSwitchNotMade);
  CHECK(o.clear_record);
}
