#include "update_client.h"

#include <string.h>

#include "identity.h"
#include "num_format.h"

namespace iotgw {

namespace {

bool same_hex(const char* a, const char* b) {
  for (int i = 0; i < 64; ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'F') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'F') y = static_cast<char>(y - 'A' + 'a');
    if (x != y || x == '\0') return false;
  }
  return true;
}

// "http 404" without printf.
void status_reason(char* out, size_t cap, int status) {
  copy_str(out, cap, "http ");
  const size_t len = strlen(out);
  const size_t n = format_uint(out + len, cap - len - 1, static_cast<uint64_t>(status));
  out[len + n] = '\0';
}

}  // namespace

UpdateClient::UpdateClient(const UpdateConfig& cfg, const char* running_version, ImageSource* source,
                           FlashTarget* flash, UpdateNewsSink& news, Rng& rng)
    : cfg_(cfg),
      source_(source),
      flash_(flash),
      news_(news),
      rng_(rng),
      backoff_(cfg.retry_base_ms, cfg.retry_cap_ms) {
  if (cfg_.read_budget == 0) cfg_.read_budget = sizeof buf_;
  copy_str(running_, sizeof running_, running_version);
}

void UpdateClient::start(uint64_t now_ms, const BootOutcome& boot) {
  switch (boot.kind) {
    case BootKind::kTrial:
      phase_ = UpdatePhase::kTrial;
      target_ = boot.record;
      confirm_by_ = now_ms + cfg_.confirm_timeout_ms;
      news_.update_news(UpdateState::kUpdated, boot.record.version, "");
      break;
    case BootKind::kUpdated:
      news_.update_news(UpdateState::kUpdated, boot.record.version, "");
      break;
    case BootKind::kRolledBack:
      copy_str(refused_sha_, sizeof refused_sha_, boot.record.sha256);
      news_.update_news(UpdateState::kRolledBack, boot.record.version, "the new image could not report");
      break;
    case BootKind::kNormal:
    case BootKind::kSwitchNotMade:
      break;
  }
}

void UpdateClient::on_news_delivered(UpdateState state) {
  // The gateway has our rollback report: from now on an offer of that image is deliberate (the
  // operator published it again or resumed the rollout).
  if (state == UpdateState::kRolledBack) refused_sha_[0] = '\0';
}

void UpdateClient::offer(uint64_t now_ms, const FirmwareOffer& o) {
  const bool taken_already = phase_ != UpdatePhase::kIdle && same_hex(o.sha256, target_.sha256);
  if (!offer_valid(o, cfg_.max_image_size) || strcmp(o.version, running_) == 0 || taken_already ||
      phase_ == UpdatePhase::kTrial || phase_ == UpdatePhase::kSwitching ||
      (refused_sha_[0] != '\0' && same_hex(o.sha256, refused_sha_)) ||
      (failed_sha_[0] != '\0' && now_ms < failed_until_ && same_hex(o.sha256, failed_sha_))) {
    ++stats_.ignored;
    return;
  }
  if (phase_ != UpdatePhase::kIdle) abandon();  // the gateway now wants another image
  ++stats_.offers;
  target_ = o;
  phase_ = UpdatePhase::kWaiting;
  offered_at_ = now_ms;
  backoff_.reset();
}

void UpdateClient::abandon() {
  if (connected_ && source_ != nullptr) source_->close();
  if (flash_open_ && flash_ != nullptr) flash_->abort();
  connected_ = false;
  flash_open_ = false;
  phase_ = UpdatePhase::kIdle;
}

void UpdateClient::fail(uint64_t now_ms, const char* reason) {
  ++stats_.failures;
  news_.update_news(UpdateState::kFailed, target_.version, reason);
  copy_str(failed_sha_, sizeof failed_sha_, target_.sha256);
  failed_until_ = now_ms + cfg_.failed_wait_ms;
  abandon();
}

void UpdateClient::drop_connection(uint64_t now_ms) {
  if (connected_) source_->close();
  connected_ = false;
  retry_at_ = now_ms + backoff_.next_delay_ms(rng_);
  phase_ = UpdatePhase::kRetryWait;
}

bool UpdateClient::begin_download() {
  if (flash_open_) flash_->abort();
  flash_open_ = flash_->begin(target_.size);
  offset_ = 0;
  sha_.reset();
  return flash_open_;
}

UpdateAction UpdateClient::tick(uint64_t now_ms, const Endpoint* gateway, bool ring_empty) {
  switch (phase_) {
    case UpdatePhase::kIdle:
    case UpdatePhase::kSwitching:
      return UpdateAction::kNone;
    case UpdatePhase::kTrial:
      if (acked_this_boot_) {
        phase_ = UpdatePhase::kIdle;
        return UpdateAction::kConfirm;
      }
      return now_ms >= confirm_by_ ? UpdateAction::kRollback : UpdateAction::kNone;
    case UpdatePhase::kWaiting:
      if (gateway == nullptr || (!ring_empty && now_ms - offered_at_ < cfg_.ring_wait_ms)) return UpdateAction::kNone;
      if (source_ == nullptr || flash_ == nullptr) {
        fail(now_ms, "no OTA support");
        return UpdateAction::kNone;
      }
      if (!begin_download()) {
        fail(now_ms, "no room");
        return UpdateAction::kNone;
      }
      news_.update_news(UpdateState::kDownloading, target_.version, "");
      phase_ = UpdatePhase::kDownloading;
      return download(now_ms, *gateway);
    case UpdatePhase::kRetryWait:
      if (now_ms < retry_at_) return UpdateAction::kNone;
      phase_ = UpdatePhase::kDownloading;
      return UpdateAction::kNone;
    case UpdatePhase::kDownloading:
      return gateway != nullptr ? download(now_ms, *gateway) : UpdateAction::kNone;
  }
  return UpdateAction::kNone;
}

UpdateAction UpdateClient::download(uint64_t now_ms, const Endpoint& gw) {
  if (!connected_) {
    request_offset_ = offset_;
    const int st = source_->open(gw, target_.sha256, offset_);
    if (st == 200 && offset_ > 0 && !begin_download()) {  // the range was not honoured: start over
      source_->close();
      fail(now_ms, "no room");
      return UpdateAction::kNone;
    }
    if (st == 200 || st == 206) {
      connected_ = true;
      ++stats_.downloads;
      if (offset_ > 0) ++stats_.resumes;
    } else if (st <= 0 || st >= 500 || st == 429) {
      drop_connection(now_ms);  // the gateway is away or busy: try again later, from here
      return UpdateAction::kNone;
    } else {
      source_->close();
      char reason[16];
      status_reason(reason, sizeof reason, st);
      fail(now_ms, reason);  // 404 (image gone), 401/403 (key), 416, ...
      return UpdateAction::kNone;
    }
  }
  uint32_t budget = cfg_.read_budget;
  while (budget > 0 && offset_ < target_.size) {
    const size_t want = budget < sizeof buf_ ? budget : sizeof buf_;
    const int n = source_->read(buf_, want);
    if (n == 0) return UpdateAction::kNone;  // nothing yet; the loop comes back
    if (n < 0) {
      drop_connection(now_ms);  // dropped before the end: resume with Range
      return UpdateAction::kNone;
    }
    const uint32_t got = static_cast<uint32_t>(n);
    if (got > target_.size - offset_) {
      source_->close();
      connected_ = false;
      fail(now_ms, "size mismatch");  // more bytes than offered
      return UpdateAction::kNone;
    }
    if (!flash_->write(buf_, got)) {
      fail(now_ms, "flash write failed");
      return UpdateAction::kNone;
    }
    sha_.update(buf_, got);
    offset_ += got;
    stats_.bytes += got;
    budget -= got < budget ? got : budget;
    backoff_.reset();  // progress: the next drop starts its backoff from the base again
  }
  if (offset_ < target_.size) return UpdateAction::kNone;
  // Every byte is here. A body that goes on is still the wrong image.
  const int extra = source_->read(buf_, 1);
  source_->close();
  connected_ = false;
  if (extra > 0) {
    fail(now_ms, "size mismatch");
    return UpdateAction::kNone;
  }
  return verify_and_switch(now_ms);
}

UpdateAction UpdateClient::verify_and_switch(uint64_t now_ms) {
  uint8_t digest[Sha256::kDigestSize];
  sha_.finish(digest);
  char hex[65];
  sha256_hex(digest, hex);
  if (!same_hex(hex, target_.sha256)) {
    fail(now_ms, "sha256 mismatch");
    return UpdateAction::kNone;
  }
  flash_open_ = false;
  if (!flash_->finish(target_)) {
    flash_open_ = true;  // abort what finish() left
    fail(now_ms, "switch failed");
    return UpdateAction::kNone;
  }
  phase_ = UpdatePhase::kSwitching;
  return UpdateAction::kRestart;
}

}  // namespace iotgw
