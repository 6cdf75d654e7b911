// The internal temperature sensor's "no sensor" constant becomes null, real values pass.
#include <doctest.h>

#include <math.h>

#include "sensor_filter.h"

TEST_CASE("a chip that only ever reads 53.33 degC reports no temperature") {
  iotgw::CpuTempFilter f;
  const float sentinel = (128 - 32) / 1.8f;  // as temperatureRead() computes it for raw 128
  for (int i = 0; i < 100; ++i) CHECK(isnan(f.filter(sentinel)));
}

TEST_CASE("a real sensor passes, including a genuine 53.33 after other values") {
  iotgw::CpuTempFilter f;
  CHECK(f.filter(47.5f) == doctest::Approx(47.5f));
  CHECK(f.filter(iotgw::CpuTempFilter::kNoSensorC) == doctest::Approx(53.333f).epsilon(0.001));
  CHECK(f.filter(54.0f) == doctest::Approx(54.0f));
}

TEST_CASE("the first distinct value switches the filter to pass-through") {
  iotgw::CpuTempFilter f;
  CHECK(isnan(f.filter(iotgw::CpuTempFilter::kNoSensorC)));
  CHECK(f.filter(52.8f) == doctest::Approx(52.8f));
  CHECK_FALSE(isnan(f.filter(iotgw::CpuTempFilter::kNoSensorC)));
}

TEST_CASE("NaN stays NaN and does not count as a real value") {
  iotgw::CpuTempFilter f;
  CHECK(isnan(f.filter(NAN)));
  CHECK(isnan(f.filter(iotgw::CpuTempFilter::kNoSensorC)));
}
