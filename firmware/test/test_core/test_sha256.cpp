// Streaming SHA-256 against the standard's test vectors (FIPS 180-2 appendix B).
#include <doctest.h>

#include <string>
#include <vector>

#include "sha256.h"

namespace {
std::string hex_of(const std::string& data, size_t piece) {
  iotgw::Sha256 h;
  for (size_t i = 0; i < data.size(); i += piece) {
    const size_t n = std::min(piece, data.size() - i);
    h.update(reinterpret_cast<const uint8_t*>(data.data() + i), n);
  }
  uint8_t d[32];
  h.finish(d);
  char out[65];
  iotgw::sha256_hex(d, out);
  return out;
}
}  // namespace

TEST_CASE("FIPS 180-2 vectors") {
  CHECK(hex_of("abc", 3) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex_of("", 1) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(hex_of(std::string(1000000, 'a'), 4096) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("the digest does not depend on how the data is cut into pieces") {
  std::string data;
  for (int i = 0; i < 5000; ++i) data += static_cast<char>((i * 131 + 7) & 0xFF);
  const std::string whole = hex_of(data, data.size());
  for (size_t piece : {1, 3, 55, 56, 63, 64, 65, 127, 1000, 4096}) {
    CAPTURE(piece);
    CHECK(hex_of(data, piece) == whole);
  }
}

TEST_CASE("padding edges: 55, 56, 63, 64 bytes") {
  // Reference digests of 'a' * n from any SHA-256 implementation (sha256sum).
  CHECK(hex_of(std::string(55, 'a'), 7) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(hex_of(std::string(56, 'a'), 7) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(hex_of(std::string(64, 'a'), 64) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST_CASE("length counts every byte; reset starts over") {
  iotgw::Sha256 h;
  const uint8_t x[10] = {};
  h.update(x, 10);
  h.update(x, 5);
  CHECK(h.length() == 15);
  h.reset();
  CHECK(h.length() == 0);
  h.update(reinterpret_cast<const uint8_t*>("abc"), 3);
  uint8_t d[32];
  h.finish(d);
  char out[65];
  iotgw::sha256_hex(d, out);
  CHECK(std::string(out) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("is_sha256_hex") {
  CHECK(iotgw::is_sha256_hex(std::string(64, 'a').c_str()));
  CHECK(iotgw::is_sha256_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
  CHECK_FALSE(iotgw::is_sha256_hex(std::string(63, 'a').c_str()));
  CHECK_FALSE(iotgw::is_sha256_hex(std::string(65, 'a').c_str()));
  CHECK_FALSE(iotgw::is_sha256_hex((std::string(63, 'a') + "g").c_str()));
  CHECK_FALSE(iotgw::is_sha256_hex(nullptr));
}
