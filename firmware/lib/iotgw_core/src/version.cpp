#include "version.h"

#include <string.h>

#include "telemetry.h"

namespace iotgw {

namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }
bool ident_char(char c) { return digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'; }

// One numeric core part: "0" or a number without a leading zero. Advances p.
bool numeric_part(const char*& p) {
  if (!digit(*p)) return false;
  if (*p == '0' && digit(p[1])) return false;
  while (digit(*p)) ++p;
  return true;
}

// Dot-separated non-empty identifiers of [0-9A-Za-z-]; numeric ones without leading zeros when
// `numeric_rule` (prerelease), any when not (build metadata). Advances p.
bool identifiers(const char*& p, bool numeric_rule) {
  for (;;) {
    const char* start = p;
    bool all_digits = true;
    while (ident_char(*p)) {
      if (!digit(*p)) all_digits = false;
      ++p;
    }
    if (p == start) return false;
    if (numeric_rule && all_digits && *start == '0' && p - start > 1) return false;
    if (*p != '.') return true;
    ++p;
  }
}

struct Parts {
  const char* core[3];   // each numeric part's start
  const char* pre;       // prerelease start, or nullptr
  const char* pre_end;
};

bool parse(const char* v, Parts* out) {
  if (v == nullptr || strlen(v) == 0 || strlen(v) > kVersionMax) return false;
  const char* p = v;
  for (int i = 0; i < 3; ++i) {
    if (i > 0 && *p++ != '.') return false;
    out->core[i] = p;
    if (!numeric_part(p)) return false;
  }
  out->pre = nullptr;
  out->pre_end = nullptr;
  if (*p == '-') {
    out->pre = ++p;
    if (!identifiers(p, true)) return false;
    out->pre_end = p;
  }
  if (*p == '+') {
    ++p;
    if (!identifiers(p, false)) return false;
  }
  return *p == '\0';
}

// Compares two runs of digits as numbers (no leading zeros, so longer is larger).
int compare_numbers(const char* a, size_t na, const char* b, size_t nb) {
  if (na != nb) return na < nb ? -1 : 1;
  const int c = strncmp(a, b, na);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

size_t run_length(const char* p, const char* end) {
  const char* q = p;
  while (q < end && *q != '.') ++q;
  return static_cast<size_t>(q - p);
}

bool all_digits(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (!digit(p[i])) return false;
  }
  return true;
}

}  // namespace

bool valid_version(const char* v) {
  Parts p;
  return parse(v, &p);
}

int compare_versions(const char* a, const char* b) {
  Parts pa, pb;
  const bool va = parse(a, &pa);
  const bool vb = parse(b, &pb);
  if (!va || !vb) return va == vb ? 0 : (va ? 1 : -1);
  for (int i = 0; i < 3; ++i) {
    size_t na = 0, nb = 0;
    while (digit(pa.core[i][na])) ++na;
    while (digit(pb.core[i][nb])) ++nb;
    const int c = compare_numbers(pa.core[i], na, pb.core[i], nb);
    if (c != 0) return c;
  }
  // A version without prerelease ranks above the same version with one.
  if (pa.pre == nullptr || pb.pre == nullptr) return pa.pre == pb.pre ? 0 : (pa.pre == nullptr ? 1 : -1);
  const char* x = pa.pre;
  const char* y = pb.pre;
  for (;;) {
    const bool x_done = x >= pa.pre_end;
    const bool y_done = y >= pb.pre_end;
    if (x_done || y_done) return x_done == y_done ? 0 : (x_done ? -1 : 1);  // fewer identifiers rank lower
    const size_t nx = run_length(x, pa.pre_end);
    const size_t ny = run_length(y, pb.pre_end);
    const bool dx = all_digits(x, nx);
    const bool dy = all_digits(y, ny);
    int c;
    if (dx && dy) {
      c = compare_numbers(x, nx, y, ny);
    } else if (dx != dy) {
      c = dx ? -1 : 1;  // numeric identifiers rank below alphanumeric ones
    } else {
      const int s = strncmp(x, y, nx < ny ? nx : ny);
      c = s != 0 ? (s < 0 ? -1 : 1) : (nx == ny ? 0 : (nx < ny ? -1 : 1));
    }
    if (c != 0) return c;
    x += nx + (x + nx < pa.pre_end ? 1 : 0);
    y += ny + (y + ny < pb.pre_end ? 1 : 0);
  }
}

}  // namespace iotgw
