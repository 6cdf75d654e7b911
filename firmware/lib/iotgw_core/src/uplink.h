// The uplink state machine: moves readings from the ring buffer to the gateway.
//
// Rule one: a reading leaves the ring only when the gateway acknowledged it (HTTP 2xx, or a
// WebSocket {"ack": m} for the message that carried it), or refused it for good (400-class:
// retrying cannot help and would block every reading behind it). Everything else - no answer,
// 5xx, 429, 503, a dropped connection, an ack that never came - leaves the ring untouched and
// backs off with full jitter (honouring Retry-After). Duplicates this may cause are harmless:
// the gateway derives each reading's id from (device_id, boot_id, seq) and stores it once.
//
// Transport: WebSocket when the gateway advertised it (TXT ws=) and the board has a WS client,
// with up to `max_in_flight` unacknowledged messages; otherwise one HTTP POST at a time.
// A batch the gateway finds too large (413) is halved; a batch with one bad reading (400) is
// re-sent one reading at a time so only the bad one is dropped.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "firmware_offer.h"
#include "locator.h"
#include "payload.h"
#include "ports.h"
#include "ring_buffer.h"
#include "telemetry.h"
#include "ws_reply.h"

namespace iotgw {

struct UplinkConfig {
  uint16_t max_batch;        // readings per request/message
  uint8_t max_in_flight;     // WS messages awaiting an ack (<= Uplink::kMaxInFlight)
  uint32_t ack_timeout_ms;   // WS: no ack for the oldest message this long -> reconnect
  uint32_t backoff_base_ms;
  uint32_t backoff_cap_ms;
  bool use_ws;               // use WebSocket when the gateway advertises it
};

struct UplinkStats {
  uint32_t acked;        // readings the gateway acknowledged
  uint32_t rejected;     // readings the gateway refused for good (dropped)
  uint32_t sent;         // reading transmissions, including re-sends
  uint32_t retried;      // transmissions of a reading that had been transmitted before
  uint32_t requests;     // HTTP POSTs and WS messages
  uint32_t failures;     // failed attempts (each one backs off)
  uint32_t discoveries;  // mDNS queries
  uint32_t ws_opens;     // WebSocket connections opened
};

enum class UplinkEvent : uint8_t {
  kGatewayFound,     // a = locator source (EndpointSource)
  kNoGateway,
  kWsOpened,
  kWsClosed,
  kRejected,         // a = first seq, b = count
  kBackoff,          // a = delay ms, b = HTTP status or 0
};

// Hooks for the Device (news, update confirmation, offers), the serial log and the simulator's
// acked-range record. Default: ignore.
class UplinkObserver {
 public:
  // `count` readings of one session (`id`), seq first_seq..last_seq, were acknowledged.
  virtual void on_acked(const Identity& id, uint32_t first_seq, uint32_t last_seq, uint32_t count) {
    (void)id;
    (void)first_seq;
    (void)last_seq;
    (void)count;
  }
  // Each acknowledged reading, just before it leaves the ring.
  virtual void on_reading_acked(const Sample& s) { (void)s; }
  virtual void on_event(UplinkEvent ev, uint32_t a, uint32_t b) {
    (void)ev;
    (void)a;
    (void)b;
  }
  // The gateway named the firmware this board should run (in a 2xx body or a WebSocket ack).
  // Called before the acknowledgement that carried it is applied.
  virtual void on_offer(const FirmwareOffer& offer) { (void)offer; }

 protected:
  ~UplinkObserver() = default;
};

struct UplinkPorts {
  DiscoveryPort* discovery;
  HttpPort* http;
  WsPort* ws;  // nullptr: HTTP only
};

class Uplink {
 public:
  static constexpr uint8_t kMaxInFlight = 8;

  // `scratch` holds one outgoing document; its size bounds the batch (and one reading must fit).
  // `book` says which session and news each reading in the ring belongs to.
  Uplink(const UplinkConfig& cfg, const ReadingBook& book, RingView<Sample>& ring, Locator& locator, Rng& rng,
         const UplinkPorts& ports, char* scratch, size_t scratch_cap, UplinkObserver* observer);

  // One step: discover if needed, read acks, send what is due. Call from loop().
  void tick(uint64_t now_ms);

  // Nothing waiting in the ring and nothing in flight.
  bool idle() const { return ring_.empty() && inflight_count_ == 0; }
  const UplinkStats& stats() const { return stats_; }
  // The earliest time the next attempt may happen (backoff), for sleeping between ticks.
  uint64_t next_attempt_ms() const { return next_attempt_ms_; }

 private:
  struct InFlight {
    uint32_t msg_seq;
    uint64_t last_key;  // book_.order_of() of its last reading
    uint32_t count;
    uint64_t sent_ms;
    bool done;      // acked or refused
    bool refused;   // permanent nack: drop rather than count as acked
  };

  class RingSource final : public SampleSource {
   public:
    explicit RingSource(const RingView<Sample>& r) : ring_(r) {}
    size_t count() const override { return ring_.size(); }
    const Sample& sample_at(size_t i) const override { return ring_.at(i); }

   private:
    const RingView<Sample>& ring_;
  };

  void http_tick(uint64_t now, const Endpoint& ep);
  void ws_tick(uint64_t now, const Endpoint& ep);
  void ws_read_replies(uint64_t now);
  void ws_handle_reply(uint64_t now, const WsReply& r);
  void ws_settle();
  void ws_reset(bool close_socket);
  size_t ws_next_unsent_index() const;

  void back_off(uint64_t now, uint32_t retry_after_s, int status);
  void count_transmission(size_t first_index, size_t n);
  // Removes the n oldest readings, reporting them as acked or rejected in runs of one session.
  size_t release_front(size_t n, bool acked);
  // The same for every reading ordered at or before `key`.
  size_t release_through(uint64_t key, bool acked);
  size_t batch_limit() const;
  void note_progress(uint64_t last_key);
  void take_offer(const char* reply, size_t len);

  UplinkConfig cfg_;
  const ReadingBook& book_;
  RingView<Sample>& ring_;
  RingSource source_;
  Locator& locator_;
  Rng& rng_;
  UplinkPorts ports_;
  char* scratch_;
  size_t scratch_cap_;
  UplinkObserver* observer_;
  Backoff backoff_;
  UplinkStats stats_ = {};

  uint64_t next_attempt_ms_ = 0;
  uint32_t locator_generation_ = 0;
  bool any_sent_ = false;
  uint64_t max_sent_key_ = 0;
  size_t batch_cap_;             // shrinks on 413
  bool single_mode_ = false;     // isolating a bad reading after a 400/permanent nack
  uint64_t single_until_key_ = 0;

  InFlight inflight_[kMaxInFlight] = {};
  uint8_t inflight_count_ = 0;
  uint32_t next_msg_seq_ = 1;
  bool ws_was_open_ = false;
  bool ws_sent_any_ = false;
  uint64_t ws_sent_through_ = 0;  // order key of the last reading sent on this connection
  char rx_[512] = {};  // one gateway reply; longer ones are read cut (parse_ws_reply keeps their ack)
};

}  // namespace iotgw
