// expect: pass
// The defines of [env:esp32dev] build_flags (with the [site] defaults) must reach the compiler:
// the glue's own build_config.h fallbacks would hide a check that passed none of them.
#include <Arduino.h>

#if !defined(IOTGW_FW_VERSION) || !defined(IOTGW_RING_CAP) || !defined(IOTGW_SITE_DEVICE_KEY) || \
    !defined(CORE_DEBUG_LEVEL)
#error "the flags derived from platformio.ini did not reach the compiler"
#endif
static_assert(sizeof(IOTGW_FW_VERSION) > 1, "IOTGW_FW_VERSION is a non-empty string literal");
static_assert(IOTGW_RING_CAP > 0, "IOTGW_RING_CAP is a number");
