#include "http_client.h"

#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#include "net.h"

namespace sim {

bool parse_response_head(const std::string& buf, HttpResponse* r, long* content_length, size_t* body_at) {
  const size_t end = buf.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  *body_at = end + 4;
  *content_length = -1;
  if (buf.compare(0, 5, "HTTP/") != 0) {
    r->status = -2;
    return true;
  }
  const size_t sp = buf.find(' ');
  r->status = sp == std::string::npos ? -2 : atoi(buf.c_str() + sp + 1);
  size_t line = buf.find("\r\n") + 2;
  while (line < end) {
    const size_t eol = buf.find("\r\n", line);
    const std::string h = buf.substr(line, eol - line);
    const size_t colon = h.find(':');
    if (colon != std::string::npos) {
      const std::string name = h.substr(0, colon);
      const char* value = h.c_str() + colon + 1;
      if (strcasecmp(name.c_str(), "content-length") == 0) *content_length = atol(value);
      if (strcasecmp(name.c_str(), "retry-after") == 0) r->retry_after_s = static_cast<uint32_t>(atol(value));
    }
    line = eol + 2;
  }
  return true;
}

HttpResponse http_post(const std::string& host, uint16_t port, const std::string& path, const char* body, size_t len,
                       const std::string& bearer_key, int timeout_ms) {
  HttpResponse r{-1, 0, {}};
  const int fd = tcp_connect(host, port, timeout_ms);
  if (fd < 0) return r;
  std::string req = "POST " + path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                    "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(len) +
                    "\r\nConnection: close\r\nUser-Agent: iotgw-sim\r\n";
  if (!bearer_key.empty()) req += "Authorization: Bearer " + bearer_key + "\r\n";
  req += "\r\n";
  req.append(body, len);
  if (!send_all(fd, req.data(), req.size(), timeout_ms)) {
    close(fd);
    return r;
  }
  std::string buf;
  char chunk[4096];
  bool have_head = false;
  long content_length = -1;
  size_t body_at = 0;
  for (;;) {
    const long n = recv_some(fd, chunk, sizeof chunk, timeout_ms);
    if (n < 0) {  // timeout or reset: we do not know whether it was stored, so it was not acked
      close(fd);
      return HttpResponse{-1, 0, {}};
    }
    if (n == 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    if (!have_head) have_head = parse_response_head(buf, &r, &content_length, &body_at);
    if (have_head && content_length >= 0 && buf.size() >= body_at + static_cast<size_t>(content_length)) break;
  }
  close(fd);
  if (!have_head) return HttpResponse{-1, 0, {}};
  if (content_length >= 0 && buf.size() < body_at + static_cast<size_t>(content_length)) {
    return HttpResponse{-1, 0, {}};  // cut off mid-body: treat as no answer
  }
  r.body = buf.substr(body_at);
  return r;
}

}  // namespace sim
