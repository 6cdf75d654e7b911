// The readings of the original sketch, taken from the ESP32 Arduino core 2.x APIs.
#pragma once

#include "device.h"
#include "sensor_filter.h"

class BoardSensors final : public iotgw::SensorPort {
 public:
  void read(iotgw::Sample* out) override;

 private:
  iotgw::CpuTempFilter temp_filter_;  // chips without the sensor read a constant 53.33 degC
};

// esp_reset_reason() in the core's terms.
iotgw::ResetReason board_reset_reason();
