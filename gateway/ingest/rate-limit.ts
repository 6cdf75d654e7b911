interface Bucket {
  tokens: number;
  at: number;
}

/** Which key ran out, and how many seconds until its bucket holds what was asked. */
export interface Refusal {
  key: string;
  retryAfterSeconds: number;
}

/**
 * Token buckets by key (a device, or a client address): a broken board stuck in a send loop, or
 * one host posting for many device ids, gets 429 with Retry-After instead of filling the buffer
 * for everyone. Counted in readings, so a batch costs its size. `perSecond` 0 turns it off.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private sweeps = 0;

  constructor(private perSecond: number, private burst: number, private readonly now: () => number = Date.now) {}

  get enabled(): boolean {
    return this.perSecond > 0;
  }

  /** A reload's new rate and burst; buckets keep their tokens, capped at the new burst. */
  configure(perSecond: number, burst: number): void {
    this.perSecond = perSecond;
    this.burst = burst;
    if (!this.enabled) this.buckets.clear();
  }

  /** Refills the keys' buckets and says which one cannot pay its count, without taking anything. */
  check(counts: ReadonlyMap<string, number>): Refusal | null {
    if (!this.enabled) return null;
    const t = this.now();
    for (const [key, n] of counts) {
      const b = this.refill(key, t);
      if (b.tokens < n) return { key, retryAfterSeconds: Math.max(1, Math.ceil((n - b.tokens) / this.perSecond)) };
    }
    return null;
  }

  /** Takes what `check` approved (call it in the same tick). */
  commit(counts: ReadonlyMap<string, number>): void {
    if (!this.enabled) return;
    for (const [key, n] of counts) {
      const b = this.buckets.get(key);
      if (b) b.tokens -= n;
    }
    if (++this.sweeps % 10000 === 0) this.sweep(this.now());
  }

  private refill(key: string, t: number): Bucket {
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: this.burst, at: t };
      this.buckets.set(key, b);
      return b;
    }
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.perSecond);
    b.at = t;
    return b;
  }

  /** Full buckets carry no information; dropping them keeps memory bounded by active senders. */
  private sweep(t: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(key);
    }
  }
}

export function countByDevice(readings: readonly { device_id: string }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of readings) counts.set(r.device_id, (counts.get(r.device_id) ?? 0) + 1);
  return counts;
}
