// Number to text without printf.
//
// Why: newlib's printf of a double allocates (dtoa's Balloc) on the ESP32, and the core must not
// touch the heap in the loop. These write into a caller buffer and return the length (0 if it
// does not fit). Output is always a valid JSON number.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace iotgw {

size_t format_uint(char* out, size_t cap, uint64_t v);
size_t format_int(char* out, size_t cap, int64_t v);
// Fixed-point with `decimals` (0..6) digits; huge magnitudes switch to d.dddddde+NN.
// The caller handles NaN/Inf (JSON has no spelling for them); here they produce 0 (no output).
size_t format_double(char* out, size_t cap, double v, int decimals);

// "a.b.c.d" -> host-order address; false for anything else (names, IPv6, junk).
bool parse_ipv4(const char* s, uint32_t* out);
// Host-order address -> "a.b.c.d" (needs cap >= 16); returns the length, 0 if it does not fit.
size_t format_ipv4(char* out, size_t cap, uint32_t ipv4);


}  // namespace iotgw
