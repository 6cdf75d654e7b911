// doctest entry point for the host test suite (PlatformIO: `pio test -e native`; CI:
// scripts/test-firmware.sh builds these files with g++ and the sanitizers).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest.h>
