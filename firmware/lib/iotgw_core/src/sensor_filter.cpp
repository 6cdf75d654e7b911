#include "sensor_filter.h"

#include <math.h>

namespace iotgw {

float CpuTempFilter::filter(float celsius) {
  if (isnan(celsius)) return celsius;
  if (fabsf(celsius - kNoSensorC) > 0.005f) seen_real_ = true;
  return seen_real_ ? celsius : static_cast<float>(NAN);
}

}  // namespace iotgw
