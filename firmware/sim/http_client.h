// Minimal HTTP/1.1 client: one POST per connection (Connection: close), the way a board with a
// small TCP stack talks to the gateway. Reads the status line, Retry-After and the body.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>

namespace sim {

struct HttpResponse {
  int status;            // <= 0: no HTTP answer (connect failed, reset, timeout, garbage)
  uint32_t retry_after_s;
  std::string body;
};

HttpResponse http_post(const std::string& host, uint16_t port, const std::string& path, const char* body, size_t len,
                       const std::string& bearer_key, int timeout_ms);

}  // namespace sim
