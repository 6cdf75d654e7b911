#include "uplink.h"

namespace iotgw {

Uplink::Uplink(const UplinkConfig& cfg, const ReadingBook& book, RingView<Sample>& ring, Locator& locator, Rng& rng,
               const UplinkPorts& ports, char* scratch, size_t scratch_cap, UplinkObserver* observer)
    : cfg_(cfg),
      book_(book),
      ring_(ring),
      source_(ring),
      locator_(locator),
      rng_(rng),
      ports_(ports),
      scratch_(scratch),
      scratch_cap_(scratch_cap),
      observer_(observer),
      backoff_(cfg.backoff_base_ms, cfg.backoff_cap_ms),
      batch_cap_(cfg.max_batch > 0 ? cfg.max_batch : 1) {
  if (cfg_.max_in_flight < 1) cfg_.max_in_flight = 1;
  if (cfg_.max_in_flight > kMaxInFlight) cfg_.max_in_flight = kMaxInFlight;
}

size_t Uplink::batch_limit() const { return single_mode_ ? 1 : batch_cap_; }

void Uplink::note_progress(uint64_t last_key) {
  if (single_mode_ && last_key >= single_until_key_) single_mode_ = false;  // bad reading isolated
}

void Uplink::back_off(uint64_t now, uint32_t retry_after_s, int status) {
  ++stats_.failures;
  uint64_t delay = backoff_.next_delay_ms(rng_);
  const uint64_t hinted = static_cast<uint64_t>(retry_after_s) * 1000u;
  if (hinted > delay) delay = hinted;  // the gateway knows better than our dice
  next_attempt_ms_ = now + delay;
  if (observer_ != nullptr) {
    observer_->on_event(UplinkEvent::kBackoff, static_cast<uint32_t>(delay), static_cast<uint32_t>(status));
  }
}

void Uplink::count_transmission(size_t first_index, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = book_.order_of(ring_.at(first_index + i));
    if (any_sent_ && key <= max_sent_key_) {
      ++stats_.retried;
    } else {
      max_sent_key_ = key;
      any_sent_ = true;
    }
    ++stats_.sent;
  }
  ++stats_.requests;
}

size_t Uplink::release_front(size_t n, bool acked) {
  size_t released = 0;
  while (n > 0 && !ring_.empty()) {
    const Identity& id = book_.identity_of(ring_.front());
    const uint32_t first = ring_.front().seq;
    uint32_t last = first;
    uint32_t count = 0;
    uint64_t last_key = 0;
    // A run ends where the session changes (each session has its own boot_id and seqs).
    while (n > 0 && !ring_.empty() && &book_.identity_of(ring_.front()) == &id) {
      const Sample& s = ring_.front();
      last = s.seq;
      last_key = book_.order_of(s);
      if (acked && observer_ != nullptr) observer_->on_reading_acked(s);
      ring_.pop_front(1);
      --n;
      ++count;
    }
    released += count;
    if (acked) {
      stats_.acked += count;
      if (observer_ != nullptr) observer_->on_acked(id, first, last, count);
    } else {
      stats_.rejected += count;
      if (observer_ != nullptr) observer_->on_event(UplinkEvent::kRejected, first, count);
    }
    note_progress(last_key);
  }
  return released;
}

size_t Uplink::release_through(uint64_t key, bool acked) {
  size_t n = 0;
  while (n < ring_.size() && book_.order_of(ring_.at(n)) <= key) ++n;
  return release_front(n, acked);
}

void Uplink::take_offer(const char* reply, size_t len) {
  WsReply r;
  if (observer_ != nullptr && len > 0 && parse_ws_reply(reply, len, &r) && r.has_offer) observer_->on_offer(r.offer);
}

void Uplink::tick(uint64_t now) {
  // Acks keep arriving while we back off; reading them also answers the gateway's pings.
  if (ws_was_open_) ws_read_replies(now);
  if (now < next_attempt_ms_) return;

  if (locator_.needs_discovery(now)) {
    Endpoint found;
    const bool ok = ports_.discovery != nullptr && ports_.discovery->browse(&found);
    ++stats_.discoveries;
    locator_.on_discovery(now, ok ? &found : nullptr);
    if (observer_ != nullptr) {
      observer_->on_event(ok ? UplinkEvent::kGatewayFound : UplinkEvent::kNoGateway,
                          static_cast<uint32_t>(locator_.source()), 0);
    }
    if (locator_.current() == nullptr) {
      back_off(now, 0, 0);
      return;
    }
  }
  if (locator_.generation() != locator_generation_) {
    locator_generation_ = locator_.generation();
    ws_reset(true);  // a connection to the old endpoint must not carry on
  }
  const Endpoint& ep = *locator_.current();
  if (cfg_.use_ws && ports_.ws != nullptr && ep.ws_path[0] != '\0') {
    ws_tick(now, ep);
  } else {
    http_tick(now, ep);
  }
}

void Uplink::http_tick(uint64_t now, const Endpoint& ep) {
  if (ring_.empty() || ports_.http == nullptr) return;
  const BatchResult b = build_batch(scratch_, scratch_cap_, BatchForm::kHttp, 0, book_, source_, 0, batch_limit());
  if (b.readings == 0) {  // one reading larger than the whole buffer can never be sent
    release_front(1, false);
    return;
  }
  count_transmission(0, b.readings);
  const HttpResult r = ports_.http->post(ep, scratch_, b.length, rx_, sizeof rx_ - 1);
  const int st = r.status;
  if (st >= 200 && st < 300) {
    take_offer(rx_, r.reply_len < sizeof rx_ ? r.reply_len : sizeof rx_ - 1);
    release_front(b.readings, true);
    backoff_.reset();
    locator_.report_success();
  } else if (st == 413) {
    locator_.report_success();
    if (b.readings > 1) {
      batch_cap_ = b.readings / 2;  // retry at once with half
    } else {
      release_front(1, false);
    }
  } else if (st == 400 || st == 415 || st == 422) {
    locator_.report_success();
    if (b.readings > 1) {
      single_mode_ = true;  // find the bad one; the good ones still get through
      single_until_key_ = book_.order_of(ring_.at(b.readings - 1));
    } else {
      release_front(1, false);
    }
  } else if (st == 429 || st == 503 || st == 401 || st == 403) {
    // Reachable but not taking this now (overload, storage, or a key the operator must fix):
    // keep the readings, wait.
    locator_.report_success();
    back_off(now, r.retry_after_s, st);
  } else {
    // No answer, 5xx, 404 (not our gateway at this address): count against the endpoint.
    locator_.report_failure();
    back_off(now, r.retry_after_s, st);
  }
}

size_t Uplink::ws_next_unsent_index() const {
  if (!ws_sent_any_) return 0;
  size_t i = 0;
  while (i < ring_.size() && book_.order_of(ring_.at(i)) <= ws_sent_through_) ++i;
  return i;
}

void Uplink::ws_reset(bool close_socket) {
  if (close_socket && ports_.ws != nullptr && ws_was_open_) ports_.ws->close();
  if (close_socket) ws_was_open_ = false;
  inflight_count_ = 0;
  ws_sent_any_ = false;  // resend everything still in the ring
}

void Uplink::ws_handle_reply(uint64_t now, const WsReply& r) {
  int idx = -1;
  for (int i = 0; i < inflight_count_; ++i) {
    if (inflight_[i].msg_seq == r.seq) idx = i;
  }
  if (idx < 0) return;  // a late answer to a message we already gave up on
  InFlight& e = inflight_[idx];
  if (r.kind == WsReplyKind::kAck) {
    e.done = true;
    return;
  }
  if (nack_is_permanent(r)) {
    if (e.count == 1) {
      e.done = true;
      e.refused = true;
      return;
    }
    single_mode_ = true;
    single_until_key_ = e.last_key;
    ws_settle();
    ws_reset(false);  // resend the unacked readings one per message
    return;
  }
  ws_settle();
  ws_reset(false);
  locator_.report_success();
  back_off(now, 0, 0);
}

void Uplink::ws_settle() {
  while (inflight_count_ > 0 && inflight_[0].done) {
    const InFlight e = inflight_[0];
    for (int i = 1; i < inflight_count_; ++i) inflight_[i - 1] = inflight_[i];
    --inflight_count_;
    release_through(e.last_key, !e.refused);
    if (!e.refused) {
      backoff_.reset();
      locator_.report_success();
    }
    note_progress(e.last_key);
  }
}

void Uplink::ws_read_replies(uint64_t now) {
  for (int i = 0; i < 32 && ws_was_open_; ++i) {
    const int n = ports_.ws->poll(rx_, sizeof rx_ - 1);
    if (n <= 0) break;
    rx_[n] = '\0';
    WsReply r;
    if (!parse_ws_reply(rx_, static_cast<size_t>(n), &r)) continue;
    if (r.has_offer && observer_ != nullptr) observer_->on_offer(r.offer);
    if (r.kind != WsReplyKind::kOther) ws_handle_reply(now, r);
  }
  ws_settle();
}

void Uplink::ws_tick(uint64_t now, const Endpoint& ep) {
  WsPort& ws = *ports_.ws;
  if (!ws.is_open()) {
    if (ws_was_open_) {
      // The gateway closed on us: likely a restart, maybe at a new address. Look again.
      ws_reset(true);
      locator_.report_gateway_restart();
      if (observer_ != nullptr) observer_->on_event(UplinkEvent::kWsClosed, 0, 0);
      back_off(now, 0, 0);
      return;
    }
    if (ring_.empty()) return;
    const int st = ws.open(ep);
    if (st != kWsUpgraded) {
      // 401/403: the gateway is there and refuses the key; looking for another gateway cannot
      // help, the operator must fix the key. The status reaches the log through kBackoff.
      if (st == 401 || st == 403) {
        locator_.report_success();
      } else {
        locator_.report_failure();
      }
      back_off(now, 0, st > 0 ? st : 0);
      return;
    }
    ws_was_open_ = true;
    ws_reset(false);
    ++stats_.ws_opens;
    if (observer_ != nullptr) observer_->on_event(UplinkEvent::kWsOpened, 0, 0);
  }

  if (inflight_count_ > 0 && now - inflight_[0].sent_ms >= cfg_.ack_timeout_ms) {
    ws_reset(true);  // an ack that never comes means a dead link; the readings are still ours
    locator_.report_failure();
    back_off(now, 0, 0);
    return;
  }

  while (inflight_count_ < cfg_.max_in_flight) {
    const size_t idx = ws_next_unsent_index();
    if (idx >= ring_.size()) break;
    const uint32_t msg = next_msg_seq_++;
    const BatchResult b =
        build_batch(scratch_, scratch_cap_, BatchForm::kWebSocket, msg, book_, source_, idx, batch_limit());
    if (b.readings == 0) {
      if (idx == 0 && inflight_count_ == 0) {
        release_front(1, false);  // too large to ever send
        continue;
      }
      break;  // wait until it reaches the front
    }
    count_transmission(idx, b.readings);
    if (!ws.send_text(scratch_, b.length)) break;  // closed: handled on the next tick
    InFlight& e = inflight_[inflight_count_++];
    e.msg_seq = msg;
    e.last_key = book_.order_of(ring_.at(idx + b.readings - 1));
    e.count = static_cast<uint32_t>(b.readings);
    e.sent_ms = now;
    e.done = false;
    e.refused = false;
    ws_sent_any_ = true;
    ws_sent_through_ = e.last_key;
  }
}

}  // namespace iotgw
