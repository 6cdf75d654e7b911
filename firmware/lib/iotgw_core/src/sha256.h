// SHA-256 (FIPS 180-4), streamed: an OTA image is hashed as it is written to flash, in pieces of
// whatever size the network delivers, with no buffer for the whole image. Portable and heap-free
// so the simulator and the board run the same code and the host tests check it against the
// standard's test vectors.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace iotgw {

class Sha256 {
 public:
  static constexpr size_t kDigestSize = 32;

  Sha256() { reset(); }
  void reset();
  void update(const uint8_t* data, size_t len);
  // Writes the digest; the object must be reset() before it hashes anything else.
  void finish(uint8_t out[kDigestSize]);
  uint64_t length() const { return bytes_; }

 private:
  void block(const uint8_t* p);

  uint32_t h_[8];
  uint8_t buf_[64];
  size_t fill_;
  uint64_t bytes_;
};

// 64 lowercase hex characters + NUL.
void sha256_hex(const uint8_t digest[Sha256::kDigestSize], char out[65]);
// True when `s` is 64 hex digits (the form the gateway names images by).
bool is_sha256_hex(const char* s);

}  // namespace iotgw
