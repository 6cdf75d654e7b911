import { GatewayError } from '../errors.ts';

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per device: a broken board stuck in a send loop gets 429 with Retry-After
 * instead of filling the buffer for everyone. Counted in readings, so a batch costs its size.
 */
export class DeviceRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private sweeps = 0;

  constructor(private readonly perSecond: number, private readonly burst: number, private readonly now: () => number = Date.now) {}

  get enabled(): boolean {
    return this.perSecond > 0;
  }

  /** Takes each device's readings from its bucket, all or nothing. */
  take(readings: readonly { device_id: string }[]): void {
    if (!this.enabled) return;
    const counts = countByDevice(readings);
    const t = this.now();
    for (const [device, n] of counts) {
      const b = this.refill(device, t);
      if (b.tokens < n) {
        const wait = Math.max(1, Math.ceil((n - b.tokens) / this.perSecond));
        throw new GatewayError('rate_limited', `device_id "${device}" sends faster than ${this.perSecond} readings/s`, 429, undefined, wait);
      }
    }
    for (const [device, n] of counts) this.buckets.get(device)!.tokens -= n;
    if (++this.sweeps % 10000 === 0) this.sweep(t);
  }

  private refill(device: string, t: number): Bucket {
    let b = this.buckets.get(device);
    if (!b) {
      b = { tokens: this.burst, at: t };
      this.buckets.set(device, b);
      return b;
    }
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.perSecond);
    b.at = t;
    return b;
  }

  /** Full buckets carry no information; dropping them keeps memory bounded by active devices. */
  private sweep(t: number): void {
    for (const [device, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(device);
    }
  }
}

function countByDevice(readings: readonly { device_id: string }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of readings) counts.set(r.device_id, (counts.get(r.device_id) ?? 0) + 1);
  return counts;
}
