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

// Parses a response head; false while it is incomplete. Fills status (-2: not HTTP),
// retry_after_s, the Content-Length (-1 if absent) and the offset where the body starts.
bool parse_response_head(const std::string& buf, HttpResponse* r, long* content_length, size_t* body_at);

HttpResponse http_post(const std::string& host, uint16_t port, const std::string& path, const char* body, size_t len,
                       const std::string& bearer_key, int timeout_ms);

}  // namespace sim
