#include "serial_log.h"

#include <Arduino.h>
#include <string.h>

#include "identity.h"

void SerialLog::on_acked(const iotgw::Identity& id, uint32_t first_seq, uint32_t last_seq, uint32_t count) {
  Serial.printf("[uplink] acked %u reading(s), boot %s seq %u..%u\n", count, id.boot_id, first_seq, last_seq);
}

void SerialLog::on_offer(const iotgw::FirmwareOffer& offer) {
  if (strcmp(offer.version, last_offer_) != 0) {
    Serial.printf("[ota] the gateway offers firmware %s (%u bytes)\n", offer.version, static_cast<unsigned>(offer.size));
    iotgw::copy_str(last_offer_, sizeof last_offer_, offer.version);
  }
}

void SerialLog::on_event(iotgw::UplinkEvent ev, uint32_t a, uint32_t b) {
  switch (ev) {
    case iotgw::UplinkEvent::kGatewayFound:
      Serial.printf("[uplink] gateway found (source %u)\n", a);
      break;
    case iotgw::UplinkEvent::kNoGateway:
      Serial.println("[uplink] no gateway answered mDNS (_iotgw._tcp)");
      break;
    case iotgw::UplinkEvent::kWsOpened:
      Serial.println("[uplink] WebSocket open");
      break;
    case iotgw::UplinkEvent::kWsClosed:
      Serial.println("[uplink] WebSocket closed by gateway; will look for it again");
      break;
    case iotgw::UplinkEvent::kRejected:
      Serial.printf("[uplink] gateway rejected %u reading(s) from seq %u; dropped\n", b, a);
      break;
    case iotgw::UplinkEvent::kBackoff:
      if (b == 401 || b == 403) {
        Serial.printf("[uplink] gateway refused the device key (status %u): set it in the portal or site.ini; "
                      "readings are kept, retry in %u ms\n", b, a);
      } else {
        Serial.printf("[uplink] send failed (status %d), retry in %u ms\n", static_cast<int>(b), a);
      }
      break;
  }
}
