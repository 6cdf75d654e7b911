// expect: fail "Werror=format"
// Compiles, but with a printf-format warning: the check treats a warning in our own code as a
// failure, so this file must fail it.
#include <Arduino.h>

void canary_warning(uint64_t v) { Serial.printf("%u\n", v); }
