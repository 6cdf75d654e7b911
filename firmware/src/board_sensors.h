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

// Names for esp_reset_reason(), as the original sketch reported them.
const char* reset_reason_name();
