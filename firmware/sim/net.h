// Blocking TCP with deadlines, just enough for the simulator's HTTP and WebSocket clients.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>

namespace sim {

// Connects to host:port (IPv4/IPv6 via getaddrinfo); returns the fd or -1. rcvbuf > 0 sets
// SO_RCVBUF before connecting: a small receive window keeps a fast sender from running ahead of
// a slow reader (the throttled image download).
int tcp_connect(const std::string& host, uint16_t port, int timeout_ms, int rcvbuf = 0);
// Sends everything or returns false (timeout, reset).
bool send_all(int fd, const char* data, size_t len, int timeout_ms);
constexpr long kRecvTimeout = -2;
// Waits up to timeout_ms for data; returns bytes read, 0 on orderly close, -1 on error,
// kRecvTimeout if nothing arrived in time.
long recv_some(int fd, char* buf, size_t cap, int timeout_ms);
// CLOCK_MONOTONIC in nanoseconds.
uint64_t mono_ns();
// First IPv4 address of host as a host-order integer (for the default group), 0 if none.
uint32_t resolve_ipv4(const std::string& host);

}  // namespace sim
