#include "image_fetch.h"

#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "net.h"

namespace sim {

namespace {
constexpr int kTimeoutMs = 5000;
}  // namespace

int HttpImageSource::open(const iotgw::Endpoint& ep, const char* sha256, uint32_t offset) {
  close();
  // Throttled: a small window, so the gateway sends as slowly as we read and a gateway stopped
  // mid-download really leaves the image unfinished (else loopback buffers hold all of it).
  const int fd = tcp_connect(ep.host, ep.port, kTimeoutMs, bps_ > 0 ? 8192 : 0);
  if (fd < 0) return -1;
  std::string req = std::string("GET /firmware/") + sha256 + ".bin?device_id=" + device_id_ + " HTTP/1.1\r\nHost: " +
                    ep.host + ":" + std::to_string(ep.port) + "\r\nConnection: close\r\nUser-Agent: iotgw-sim\r\n";
  if (offset > 0) req += "Range: bytes=" + std::to_string(offset) + "-\r\n";
  if (!key_.empty()) req += "Authorization: Bearer " + key_ + "\r\n";
  req += "\r\n";
  if (!send_all(fd, req.data(), req.size(), kTimeoutMs)) {
    ::close(fd);
    return -1;
  }
  std::string head;
  HttpResponse r{-1, 0, {}};
  long content_length = -1;
  size_t body_at = 0;
  char chunk[4096];
  while (!parse_response_head(head, &r, &content_length, &body_at)) {
    const long n = recv_some(fd, chunk, sizeof chunk, kTimeoutMs);
    if (n <= 0 || head.size() > 16384) {
      ::close(fd);
      return -1;
    }
    head.append(chunk, static_cast<size_t>(n));
  }
  if (r.status != 200 && r.status != 206) {
    ::close(fd);
    return r.status > 0 ? r.status : -1;
  }
  fd_ = fd;
  pending_ = head.substr(body_at);
  remaining_ = content_length >= 0 ? content_length : -1;
  opened_ns_ = mono_ns();
  delivered_ = 0;
  return r.status;
}

int HttpImageSource::read(uint8_t* buf, size_t cap) {
  if (fd_ < 0) return -1;
  if (remaining_ == 0) return -1;  // the whole body came
  if (bps_ > 0) {
    const uint64_t allowed = (mono_ns() - opened_ns_) / 1000000ull * bps_ / 1000ull;
    if (allowed <= delivered_) return 0;
    if (allowed - delivered_ < cap) cap = static_cast<size_t>(allowed - delivered_);
  }
  if (remaining_ > 0 && static_cast<long>(cap) > remaining_) cap = static_cast<size_t>(remaining_);
  size_t n = 0;
  if (!pending_.empty()) {
    n = pending_.copy(reinterpret_cast<char*>(buf), cap);
    pending_.erase(0, n);
  } else {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 0) != 1) return 0;  // nothing yet; never block the device's loop
    const ssize_t got = recv(fd_, buf, cap, 0);
    if (got <= 0) {  // closed or reset before the end
      close();
      return -1;
    }
    n = static_cast<size_t>(got);
  }
  if (remaining_ > 0) remaining_ -= static_cast<long>(n);
  delivered_ += n;
  return static_cast<int>(n);
}

void HttpImageSource::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  pending_.clear();
}

}  // namespace sim
