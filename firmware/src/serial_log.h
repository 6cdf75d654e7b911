// Serial log of what the uplink decides, one short line per event (115200 baud).
#pragma once

#include "uplink.h"

class SerialLog final : public iotgw::UplinkObserver {
 public:
  void on_acked(const iotgw::Identity& id, uint32_t first_seq, uint32_t last_seq, uint32_t count) override;
  void on_offer(const iotgw::FirmwareOffer& offer) override;
  void on_event(iotgw::UplinkEvent ev, uint32_t a, uint32_t b) override;

 private:
  char last_offer_[iotgw::kVersionMax + 1] = {};  // an offer is logged once, not with every ack
};
