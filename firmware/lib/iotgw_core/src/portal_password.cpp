#include "portal_password.h"

#include <string.h>

namespace iotgw {

bool valid_ap_password(const char* s) {
  if (s == nullptr) return false;
  size_t n = 0;
  for (; s[n] != '\0'; ++n) {
    if (s[n] < 0x20 || s[n] > 0x7E || n >= 63) return false;
  }
  return n >= 8;
}

bool password_from_random(char* out, size_t cap, size_t length, const uint32_t* words, size_t word_count) {
  static const char kAlphabet[] = "abcdefghjkmnpqrstuvwxyz23456789";
  constexpr uint32_t kSize = sizeof kAlphabet - 1;
  if (out == nullptr || words == nullptr || cap <= length || length > word_count || length == 0) return false;
  for (size_t i = 0; i < length; ++i) out[i] = kAlphabet[words[i] % kSize];
  out[length] = '\0';
  return true;
}

}  // namespace iotgw
