import { performance } from 'node:perf_hooks';

/** How long a board's clock reading counts, and how many boards are remembered (memory bound). */
const FRESH_MS = 10 * 60_000;
const MAX_DEVICES = 5000;
/** Fewer boards than this never outvote the gateway's clock. */
const QUORUM = 3;

/**
 * What the boards' synced clocks (`ts`) say about the gateway's own. A Pi has no real-time clock:
 * it boots with the time it saved at shutdown and steps when NTP answers, and an operator can set
 * it wrong. Intake trusts a board's `ts` for windowing only within `max_clock_skew_seconds` ahead
 * of and `max_late_seconds` behind the gateway's clock; with the gateway an hour behind, every
 * board's correct `ts` would look an hour ahead and be ignored, filing readings in the wrong hour.
 *
 * So intake judges `ts` against the gateway's clock corrected by the boards' consensus: the
 * median of each board's latest (`ts` − receive time), used only when at least 3 boards reported
 * in the last 10 minutes, at least two thirds of them agree with the median within the skew, and
 * the median itself is beyond the skew. A single board with a wrong clock changes nothing.
 * Readings without `ts` keep the gateway's receive time. The offset is exported as
 * `iotgw_clock_offset_seconds`, and each change of verdict is logged once.
 */
export class DeviceClocks {
  /** Per board: its `ts` minus the monotonic time of receipt, and when (monotonic). */
  private readonly latest = new Map<string, { offset: number; at: number }>();
  /** The boards' consensus against the monotonic clock (null: none), recomputed at most once a second. */
  private cached: { at: number; median: number | null } = { at: -Infinity, median: null };

  /**
   * Offsets are kept against a clock that never steps (`performance.timeOrigin + now()`), so when
   * the wall clock steps the correction is right from the next reading on, not after the boards
   * have reported again.
   */
  constructor(
    private readonly skewMs: () => number,
    private readonly steady: () => number = () => performance.timeOrigin + performance.now(),
    private readonly wall: () => number = Date.now,
  ) {}

  /** Notes each board's last `ts` of a batch. */
  observe(readings: readonly { device_id: string; doc: Record<string, unknown> }[]): void {
    const at = this.steady();
    for (const r of readings) {
      const ts = r.doc.ts;
      if (typeof ts !== 'number') continue;
      this.latest.delete(r.device_id); // re-inserted last: the map stays ordered by recency
      this.latest.set(r.device_id, { offset: ts - at, at });
    }
    while (this.latest.size > MAX_DEVICES) this.latest.delete(this.latest.keys().next().value as string);
  }

  /** Milliseconds to add to the gateway's wall clock to agree with its boards; 0 when within the skew or too few agree. */
  offsetMs(): number {
    const steady = this.steady();
    if (steady - this.cached.at >= 1000) {
      for (const [id, e] of this.latest) {
        if (steady - e.at <= FRESH_MS) break; // ordered by recency: the rest are fresh
        this.latest.delete(id);
      }
      this.cached = { at: steady, median: this.consensus() };
    }
    if (this.cached.median === null) return 0;
    const offset = steady + this.cached.median - this.wall();
    return Math.abs(offset) > this.skewMs() ? offset : 0;
  }

  private consensus(): number | null {
    if (this.latest.size < QUORUM) return null;
    const offsets = [...this.latest.values()].map((e) => e.offset).sort((a, b) => a - b);
    const median = offsets[Math.floor(offsets.length / 2)];
    const agreeing = offsets.filter((o) => Math.abs(o - median) <= this.skewMs()).length;
    return agreeing * 3 >= offsets.length * 2 ? median : null;
  }
}
