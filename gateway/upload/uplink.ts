import type BetterSqlite3 from 'better-sqlite3';

/**
 * How fast this site's uplink carries a write to Atlas, and what follows from it (issue 21: "a
 * slow uplink never finishes"). An 8 MiB part with w: majority over a ~1 Mbit/s LTE or
 * satellite uplink takes over a minute, longer than a fixed 60 s socket timeout; the retry meets
 * the same limit and the hour never leaves. Driver 7.9 ignores a per-operation `timeoutMS`, so:
 *
 * - the rate is measured from the upload's own writes (bytes / time to acknowledgement, writes
 *   of 64 KiB or more; a write that timed out says the rate is below bytes / time, and the
 *   estimate is halved below that), smoothed, and kept in the buffer's SQLite file across restarts;
 * - windows begun from then on are cut into parts that take about a quarter of the socket
 *   timeout (`mongodb.socket_timeout_ms`) on that uplink, at most `upload.part_max_bytes`
 *   (a window keeps the size it began with, so a replay gives the same `_id`s);
 * - the socket timeout becomes at least 4× the time the largest part in play takes (two writes
 *   share the uplink, and a margin), applied by reconnecting between passes.
 * Unknown rate (a new site): the configured part size and timeout, until a write says otherwise.
 */
export interface UplinkSettings {
  /** `mongodb.socket_timeout_ms`: the least socket timeout, and the time a part should take ×4. */
  floorMs: number;
  /** `upload.part_max_bytes`. */
  maxPartBytes: number;
}

/** Writes smaller than this measure latency more than bandwidth. */
const MIN_SAMPLE_BYTES = 64 * 1024;
/** Parts are never cut smaller than this (a part per few readings would cost more than it saves). */
export const MIN_PART_BYTES = 32 * 1024;

export class UplinkMeter {
  private rate: number | null;
  private saved: number | null;

  constructor(private readonly settings: UplinkSettings, private readonly store: UplinkStore | null = null) {
    this.rate = store?.load() ?? null;
    this.saved = this.rate;
  }

  /** Keeps the estimate for the next start (once per pass, not per write: each is a commit on the SD card). */
  persist(): void {
    if (this.rate === null || this.rate === this.saved) return;
    this.store?.save(this.rate);
    this.saved = this.rate;
  }

  /** Bytes per second, null while unknown. */
  get bytesPerSecond(): number | null {
    return this.rate;
  }

  /** A write of `bytes` was acknowledged `ms` after it was sent. */
  observe(bytes: number, ms: number): void {
    if (bytes < MIN_SAMPLE_BYTES || ms <= 0) return;
    const sample = (bytes * 1000) / ms;
    this.set(this.rate === null ? sample : 0.7 * this.rate + 0.3 * sample);
  }

  /** A write of `bytes` had no answer within `ms` (the socket timeout): the uplink is slower than that. */
  timedOut(bytes: number, ms: number): void {
    if (ms <= 0) return;
    const ceiling = (bytes * 1000) / ms;
    this.set(Math.min(this.rate ?? ceiling, ceiling) / 2);
  }

  /** The part size for windows begun now. */
  partBytes(): number {
    if (this.rate === null) return this.settings.maxPartBytes;
    const fit = Math.floor((this.rate * this.settings.floorMs) / 1000 / 4);
    return Math.max(Math.min(MIN_PART_BYTES, this.settings.maxPartBytes), Math.min(this.settings.maxPartBytes, fit));
  }

  /** The socket timeout a part of `partBytes` needs on this uplink. */
  socketTimeoutMs(partBytes: number): number {
    if (this.rate === null) return this.settings.floorMs;
    return Math.max(this.settings.floorMs, Math.ceil((4 * partBytes * 1000) / this.rate));
  }

  private set(rate: number): void {
    this.rate = Math.max(1, rate);
  }
}

/** The measured rate in the buffer's SQLite file (`upload_uplink`, one row). */
export class UplinkStore {
  constructor(private readonly db: BetterSqlite3.Database) {}

  migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS upload_uplink (id INTEGER PRIMARY KEY CHECK (id = 1), bytes_per_second REAL NOT NULL, measured_at INTEGER NOT NULL)');
  }

  load(): number | null {
    const row = this.db.prepare('SELECT bytes_per_second FROM upload_uplink WHERE id = 1').get() as { bytes_per_second: number } | undefined;
    return row?.bytes_per_second ?? null;
  }

  save(rate: number): void {
    this.db.prepare('INSERT INTO upload_uplink (id, bytes_per_second, measured_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET bytes_per_second = excluded.bytes_per_second, measured_at = excluded.measured_at').run(rate, Date.now());
  }
}
