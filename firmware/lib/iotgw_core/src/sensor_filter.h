// Board readings that need a decision before they become a metric.
#pragma once

#include <stdint.h>

namespace iotgw {

// The ESP32 core's temperatureRead() is (temprature_sens_read() - 32) / 1.8, and chips without a
// working internal sensor return the raw value 128 on every read: a constant 53.33 degC that
// looks like data. The filter answers NaN (sent as null) as long as every reading since boot was
// that value; once any other value was seen the sensor is real and every value passes,
// including a genuine 53.33.
class CpuTempFilter {
 public:
  static constexpr float kNoSensorC = (128.0f - 32.0f) / 1.8f;

  float filter(float celsius);

 private:
  bool seen_real_ = false;
};

}  // namespace iotgw
