import type { LatestEntry } from './records.ts';

/**
 * How often each device's `latest` entry is rewritten, in Redis and in SQLite. The entry serves
 * the original API's `GET /redis` (a device's newest reading), which nobody reads at the rate
 * readings arrive; rewriting it for every reading was a third of redis-server's work per reading
 * (a ~0.5 KB copy into Lua, HMGET, two HSETs, and the same bytes again in the AOF), and in SQLite
 * one more B-tree page per commit. So a device's entry is written at most once per `everyMs`: the
 * first reading of a quiet device at once, later ones as one trailing write of the newest when
 * the interval has passed. The readings themselves are stored and acknowledged as before; the
 * stores merge the waiting entries into what they read (`withWaiting`), so the API shows the
 * newest reading at once, and a crash loses at most one pending view update per device (the
 * next reading repairs it).
 */

export interface LatestCandidate {
  device: string;
  /** The reading's received_at: Redis keeps the newest (see APPEND_LUA). */
  at: number;
  json: string;
  /** '' or "<window>/<line>": skipped by the script when that line turned out to be a resend. */
  key: string;
}

export class LatestThrottle {
  private readonly written = new Map<string, number>();
  private readonly pending = new Map<string, LatestCandidate>();
  private timer: NodeJS.Timeout | null = null;

  /**
   * `trailing` writes the entries that `armTrailing`'s timer found due, as one call; it handles
   * its own errors (a failed view update is repaired by the device's next reading).
   */
  constructor(
    private readonly everyMs: number,
    private readonly now: () => number = Date.now,
    private readonly trailing?: (due: LatestCandidate[]) => void | Promise<void>,
  ) {}

  get waiting(): number {
    return this.pending.size;
  }

  /**
   * The entries to write in the append call being built: candidates of devices not written for
   * `everyMs`. The rest wait (the newest per device) for `takeDue`. O(candidates): this runs for
   * every append call, so it never walks the waiting ones.
   */
  take(candidates: Iterable<LatestCandidate>): LatestCandidate[] {
    const t = this.now();
    const out: LatestCandidate[] = [];
    for (const c of candidates) {
      const last = this.written.get(c.device);
      if (this.everyMs <= 0 || last === undefined || t - last >= this.everyMs) {
        out.push(c);
        this.written.set(c.device, t);
        this.pending.delete(c.device);
      } else {
        const p = this.pending.get(c.device);
        // Its call's resend check is gone by the time it is written: key ''. A resend written as
        // latest is the same reading, received again.
        if (!p || p.at <= c.at) this.pending.set(c.device, { ...c, key: '' });
      }
    }
    // Devices quiet for a while no longer need their time remembered (bounded by active devices).
    if (this.written.size > 4 * (this.pending.size + 1024)) {
      for (const [device, last] of this.written) if (t - last >= this.everyMs && !this.pending.has(device)) this.written.delete(device);
    }
    return out;
  }

  /** The waiting entries whose interval has passed (the trailing writes; a timer calls it). */
  takeDue(): LatestCandidate[] {
    const t = this.now();
    const out: LatestCandidate[] = [];
    for (const [device, p] of this.pending) {
      if (t - (this.written.get(device) ?? 0) < this.everyMs) continue;
      out.push(p);
      this.written.set(device, t);
      this.pending.delete(device);
    }
    return out;
  }

  /** Ms until the first pending entry is due, or null when none waits (walks them: call it rarely). */
  nextDueIn(): number | null {
    if (this.pending.size === 0) return null;
    const t = this.now();
    let due = Infinity;
    for (const device of this.pending.keys()) due = Math.min(due, (this.written.get(device) ?? 0) + this.everyMs - t);
    return Math.max(0, due);
  }

  /**
   * After a `take` that left entries waiting: arms the timer of the trailing write, which hands
   * every entry then due to `trailing` in one call and re-arms itself once that call settles,
   * while any still wait.
   */
  armTrailing(): void {
    if (this.timer || this.pending.size === 0 || !this.trailing) return;
    const write = this.trailing;
    this.timer = setTimeout(() => {
      this.timer = null;
      const due = this.takeDue();
      if (due.length === 0) return this.armTrailing();
      void Promise.resolve(write(due)).finally(() => this.armTrailing());
    }, this.nextDueIn() ?? 0);
    this.timer.unref();
  }

  /** The entries waiting for their write, left in place (a reader merges them into the stored view). */
  waitingEntries(): IterableIterator<LatestCandidate> {
    return this.pending.values();
  }

  /** Every pending entry, due or not, and no more trailing writes (the store is closing). */
  drain(): LatestCandidate[] {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const out = [...this.pending.values()];
    this.pending.clear();
    return out;
  }
}

/** A store's stored view with the entries still waiting for their write: per device the newer one. */
export function withWaiting(stored: LatestEntry[], waiting: LatestEntry[]): LatestEntry[] {
  if (waiting.length === 0) return stored;
  const best = new Map(stored.map((e) => [e.device_id, e]));
  for (const e of waiting) {
    const cur = best.get(e.device_id);
    if (!cur || e.received_at >= cur.received_at) best.set(e.device_id, e);
  }
  return [...best.values()].sort((a, b) => a.device_id.localeCompare(b.device_id));
}
