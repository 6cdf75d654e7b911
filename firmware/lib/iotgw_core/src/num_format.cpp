#include "num_format.h"

#include <float.h>

namespace iotgw {

namespace {

const uint64_t kPow10[] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull};

// Writes `v` zero-padded to at least `min_digits` digits.
size_t put_digits(char* out, size_t cap, uint64_t v, int min_digits) {
  char tmp[20];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n < min_digits) tmp[n++] = '0';
  if (static_cast<size_t>(n) > cap) return 0;
  for (int i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
  return static_cast<size_t>(n);
}

// Appends `n` bytes of `src` at out[*len], failing (returning false) if cap is exceeded.
bool append(char* out, size_t cap, size_t* len, const char* src, size_t n) {
  if (n == 0 || *len + n > cap) return false;
  for (size_t i = 0; i < n; ++i) out[*len + i] = src[i];
  *len += n;
  return true;
}

}  // namespace

size_t format_uint(char* out, size_t cap, uint64_t v) { return put_digits(out, cap, v, 1); }

size_t format_int(char* out, size_t cap, int64_t v) {
  if (v >= 0) return put_digits(out, cap, static_cast<uint64_t>(v), 1);
  if (cap < 2) return 0;
  out[0] = '-';
  // Negate in unsigned arithmetic so INT64_MIN does not overflow.
  const uint64_t mag = 0ull - static_cast<uint64_t>(v);
  const size_t n = put_digits(out + 1, cap - 1, mag, 1);
  return n == 0 ? 0 : n + 1;
}

size_t format_double(char* out, size_t cap, double v, int decimals) {
  if (v != v || v > DBL_MAX || v < -DBL_MAX) return 0;  // NaN or Inf
  if (decimals < 0) decimals = 0;
  if (decimals > 6) decimals = 6;
  const bool neg = v < 0;
  double a = neg ? -v : v;
  char digits[24];
  size_t len = 0;

  const uint64_t scale = kPow10[decimals];
  if (a * static_cast<double>(scale) < 9.0e15) {
    // Fits an exact integer of a double's mantissa: round once, then print integer and fraction.
    const uint64_t r = static_cast<uint64_t>(a * static_cast<double>(scale) + 0.5);
    if (neg && r != 0 && !append(out, cap, &len, "-", 1)) return 0;  // no "-0.0"
    const size_t n = put_digits(digits, sizeof digits, r / scale, 1);
    if (!append(out, cap, &len, digits, n)) return 0;
    if (decimals > 0) {
      if (!append(out, cap, &len, ".", 1)) return 0;
      const size_t f = put_digits(digits, sizeof digits, r % scale, decimals);
      if (!append(out, cap, &len, digits, f)) return 0;
    }
    return len;
  }

  // Large magnitude: scientific notation with six fraction digits.
  int exp10 = 0;
  while (a >= 10.0) {
    a /= 10.0;
    ++exp10;
  }
  uint64_t r = static_cast<uint64_t>(a * 1e6 + 0.5);
  if (r >= 10000000ull) {  // 9.9999996 rounded up to 10.000000
    r /= 10;
    ++exp10;
  }
  if (neg && !append(out, cap, &len, "-", 1)) return 0;
  size_t n = put_digits(digits, sizeof digits, r / 1000000ull, 1);
  if (!append(out, cap, &len, digits, n) || !append(out, cap, &len, ".", 1)) return 0;
  n = put_digits(digits, sizeof digits, r % 1000000ull, 6);
  if (!append(out, cap, &len, digits, n) || !append(out, cap, &len, "e+", 2)) return 0;
  n = put_digits(digits, sizeof digits, static_cast<uint64_t>(exp10), 1);
  if (!append(out, cap, &len, digits, n)) return 0;
  return len;
}

bool parse_ipv4(const char* s, uint32_t* out) {
  if (s == nullptr) return false;
  uint32_t ip = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0 && *s++ != '.') return false;
    if (*s < '0' || *s > '9') return false;
    uint32_t v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
      v = v * 10 + static_cast<uint32_t>(*s++ - '0');
      if (++digits > 3 || v > 255) return false;
    }
    ip = (ip << 8) | v;
  }
  if (*s != '\0') return false;
  *out = ip;
  return true;
}

size_t format_ipv4(char* out, size_t cap, uint32_t ipv4) {
  if (out == nullptr || cap < 16) return 0;
  size_t len = 0;
  for (int i = 3; i >= 0; --i) {
    len += format_uint(out + len, cap - len, (ipv4 >> (8 * i)) & 0xFFu);
    if (i > 0) out[len++] = '.';
  }
  out[len] = '\0';
  return len;
}

}  // namespace iotgw
