// SHA-1 and base64, only for the WebSocket handshake's Sec-WebSocket-Accept check (RFC 6455 4.2.2).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>

namespace sim {

void sha1(const uint8_t* data, size_t len, uint8_t out[20]);
std::string base64(const uint8_t* data, size_t len);

}  // namespace sim
