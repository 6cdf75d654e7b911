// Ring buffer: order, overflow accounting, replay.
#include <doctest.h>

#include <vector>

#include "ring_buffer.h"

namespace {
template <typename R>
std::vector<int> contents(const R& r) {
  std::vector<int> v;
  for (size_t i = 0; i < r.size(); ++i) v.push_back(r.at(i));
  return v;
}
}  // namespace

TEST_CASE("readings come out in the order they went in") {
  iotgw::RingBuffer<int, 4> r;
  CHECK(r.empty());
  for (int i = 1; i <= 3; ++i) CHECK(r.push(i));
  CHECK(contents(r) == std::vector<int>{1, 2, 3});
  CHECK(r.pop_front(1) == 1);
  CHECK(r.front() == 2);
  CHECK(r.back() == 3);
  CHECK(r.dropped() == 0);
}

TEST_CASE("overflow drops the oldest and counts every drop") {
  iotgw::RingBuffer<int, 4> r;
  for (int i = 1; i <= 4; ++i) CHECK(r.push(i));
  CHECK(r.full());
  CHECK_FALSE(r.push(5));
  CHECK_FALSE(r.push(6));
  CHECK(contents(r) == std::vector<int>{3, 4, 5, 6});
  CHECK(r.dropped() == 2);
}

TEST_CASE("replay after an outage: nothing leaves until acknowledged, order kept across wrap") {
  iotgw::RingBuffer<int, 5> r;
  int next = 0;
  std::vector<int> delivered;
  // Many cycles so head wraps the storage several times.
  for (int round = 0; round < 7; ++round) {
    for (int i = 0; i < 3; ++i) r.push(next++);    // produced while the gateway is away
    while (!r.empty()) {                            // gateway back: acked two at a time
      const size_t n = r.size() < 2 ? r.size() : 2;
      for (size_t k = 0; k < n; ++k) delivered.push_back(r.at(k));
      r.pop_front(n);
    }
  }
  std::vector<int> expected;
  for (int i = 0; i < next; ++i) expected.push_back(i);
  CHECK(delivered == expected);
  CHECK(r.dropped() == 0);
}

TEST_CASE("produced = delivered + dropped when the outage is longer than the ring") {
  iotgw::RingBuffer<int, 8> r;
  for (int i = 0; i < 20; ++i) r.push(i);
  CHECK(r.size() == 8);
  CHECK(r.dropped() == 12);
  CHECK(r.front() == 12);  // the newest eight survive, in order
  CHECK(r.size() + r.dropped() == 20);
}

TEST_CASE("the run-time limit caps the fill and shrinking counts what it drops") {
  iotgw::RingBuffer<int, 16> r;
  r.set_limit(3);
  CHECK(r.limit() == 3);
  for (int i = 0; i < 5; ++i) r.push(i);
  CHECK(contents(r) == std::vector<int>{2, 3, 4});
  CHECK(r.dropped() == 2);
  r.set_limit(1);
  CHECK(contents(r) == std::vector<int>{4});
  CHECK(r.dropped() == 4);
  r.set_limit(0);
  CHECK(r.limit() == 1);
  r.set_limit(1000);
  CHECK(r.limit() == 16);
  CHECK(r.pop_front(99) == 1);
  CHECK(r.empty());
}
