import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Reading, ReadingDoc, StoredReading } from '../reading.ts';
import type { DeviceQuery, QuarantineSink, ReadingStore, StoreKind, WindowPage, WindowSummary } from './store.ts';
import { parseDoc, type LatestEntry, type DeviceEntry } from './records.ts';
import { WalSync, fsyncFd, type SyncWal } from './wal-sync.ts';
import { WalCheckpointer, type WalCheckpointerOptions } from './wal-checkpointer.ts';
import { MIGRATIONS, SCHEMA } from './sqlite-schema.ts';
import type { AckedRecordsFor } from './store.ts';
import { scanDevice } from './sqlite-device-scan.ts';
import { LatestThrottle, withWaiting, type LatestCandidate } from './latest-throttle.ts';

export interface SqliteStoreOptions {
  /** A real file; its directory is created. */
  path: string;
  /** Appends arriving within this many ms share one transaction (0, the default: those queued in the same tick, plus, in 'full' mode, those that arrive during the running fsync). */
  groupCommitMs?: number;
  /**
   * 'full' (default): an append resolves once its commit is on disk (the connection runs NORMAL and
   * the WAL is fsynced off the event loop, see the class comment). 'normal': SQLite's NORMAL, no
   * fsync per commit; a power cut may lose the last commits.
   */
  synchronous?: 'full' | 'normal';
  busyTimeoutMs?: number;
  /** A group commit is flushed early once it holds this many readings. */
  maxBatch?: number;
  /** At most this many rows are read by one `deviceEntries` call (there is no per-device index). */
  deviceScanBudget?: number;
  /**
   * A device's row in `latest` is rewritten at most this often (default 10000; 0: with every
   * reading); what waits is kept in memory and merged into `latestEntries` (see `write`).
   */
  latestEveryMs?: number;
  /** The checkpoint worker's settings (wal-checkpointer.ts); false keeps checkpoints on the event loop. */
  checkpointer?: Omit<WalCheckpointerOptions, 'path' | 'db' | 'log'> | false;
  /**
   * The acknowledged-records to persist with a write (acked-ledger.ts): given the readings of
   * the transaction's appends, (device_id, serialized record) pairs ('' deletes the row), written
   * in the same transaction: one row per device per commit.
   */
  ackedRecords?: AckedRecordsFor;
  /** How the WAL is fsynced in 'full' mode; default fs.fsync on the thread pool. A seam for tests. */
  syncWal?: SyncWal;
  log?: Logger;
  metrics?: Metrics;
}

interface Pending {
  readings: Reading[];
  /** Each reading's doc as JSON, serialized before it joins a batch so it cannot fail the batch. */
  docs: string[];
  resolve(n: number): void;
  reject(err: unknown): void;
}

interface Row {
  seq: number;
  id: string;
  device_id: string;
  group_id: string;
  window: number;
  received_at: number;
  doc: string;
}

/** Rows deleted per transaction by deleteWindow. */
const DELETE_STEP = 2000;

/** Positions are the rowid as a decimal string; this one is past every real rowid. */
export const SQLITE_MAX_POS = String(Number.MAX_SAFE_INTEGER);

/**
 * The SQLite buffer: always open, because it is the fallback while Redis is down, the outbox for
 * windows spilled out of Redis, and where quarantined records are kept.
 *
 * Group commit: appends that arrive within `groupCommitMs` (and at least those of the same tick)
 * are written in ONE transaction; a failed transaction rejects every caller of that batch (nothing
 * from it is stored).
 *
 * Durability ('full', the default): a resolved `append` survives a power cut, as with SQLite's
 * `synchronous=FULL`, but without an fsync on the event loop (better-sqlite3 is synchronous, so
 * FULL blocked every request for one fsync per commit). The connection runs NORMAL and the callers
 * of a commit wait for an fsync of the `-wal` file on libuv's thread pool that started after their
 * COMMIT returned; wal-sync.ts explains why that is FULL's guarantee. The one difference: a commit
 * is visible to readers before it is durable, so a writer whose next step leaves this file (a
 * Redis trim, an Atlas write) calls `sync()` first.
 *
 * Positions (`pos`) are the AUTOINCREMENT rowid as a decimal string: strictly increasing and
 * never reused, even after the newest row was deleted.
 */
export class SqliteStore implements ReadingStore, QuarantineSink {
  readonly kind: StoreKind = 'sqlite';
  /** Committed append transactions; tests use it to see that group commit really groups. */
  commits = 0;
  private handle: Database.Database | null = null;
  private pending: Pending[] = [];
  private pendingCount = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private closed = false;
  private stmts!: ReturnType<SqliteStore['prepare']>;
  /** Set while the store fsyncs the WAL itself ('full' mode in WAL journal mode). */
  private wal: WalSync | null = null;
  /** Set in WAL journal mode: copies the WAL into the database file off the event loop under load. */
  private checkpointer: WalCheckpointer | null = null;
  private closing: Promise<void> | null = null;
  private readonly groupCommitMs: number;
  private readonly maxBatch: number;
  /** A group waits for the running WAL fsync (see flush). */
  private holding = false;
  private readonly latest: LatestThrottle;
  /**
   * Readings of commits whose callers still wait for the WAL fsync: not yet acknowledged, so not
   * in the caller's durable record, but committed before any later transaction, so a later
   * transaction's acknowledged-records include them (a record must not fall behind what an
   * earlier commit of this file stored).
   */
  private readonly unsynced = new Set<Reading[][]>();

  constructor(private readonly opts: SqliteStoreOptions) {
    this.groupCommitMs = opts.groupCommitMs ?? 0;
    this.maxBatch = opts.maxBatch ?? 5000;
    this.latest = new LatestThrottle(opts.latestEveryMs ?? 10_000, Date.now, (due) => this.writeLatest(due));
  }

  /** The checkpoint worker, while the store is open in WAL mode (tests and the bench read its counters). */
  get walCheckpointer(): WalCheckpointer | null {
    return this.checkpointer;
  }

  /** WAL fsyncs started so far (0 in 'normal' mode); tests and the bench compare it with `commits`. */
  get walSyncs(): number {
    return this.wal?.syncs ?? 0;
  }

  get path(): string {
    return this.opts.path;
  }

  /** The Database handle, for the uploader's own tables in the same file (see also `migrate`). */
  get db(): Database.Database {
    if (!this.handle) throw new Error('sqlite store is not open');
    return this.handle;
  }

  async open(): Promise<void> {
    if (this.handle) return;
    mkdirSync(dirname(this.opts.path), { recursive: true });
    const db = new Database(this.opts.path, { timeout: this.opts.busyTimeoutMs ?? 5000 });
    try {
      const journal = db.pragma('journal_mode = WAL', { simple: true });
      const full = (this.opts.synchronous ?? 'full') === 'full';
      // Our own fsync stands in for FULL only in WAL mode (see the class comment); should a file
      // system refuse WAL, SQLite's FULL keeps the guarantee, on the event loop.
      const ownSync = full && journal === 'wal';
      if (full && !ownSync) this.opts.log?.warn({ journal }, 'SQLite is not in WAL mode: commits fsync on the event loop');
      db.pragma(`synchronous = ${full && !ownSync ? 'FULL' : 'NORMAL'}`);
      db.pragma(`busy_timeout = ${this.opts.busyTimeoutMs ?? 5000}`);
      db.exec(SCHEMA);
      this.handle = db;
      for (const [name, fn] of MIGRATIONS) this.migrate(name, fn);
      this.stmts = this.prepare(db);
      if (ownSync) {
        db.prepare('SELECT count(*) FROM sqlite_master').get(); // a read opens (creates) the -wal file
        const wal = new WalSync(this.opts.syncWal ?? fsyncFd, () => this.checkpointAfterSyncFailure(), this.opts.log);
        wal.open(`${this.opts.path}-wal`);
        this.wal = wal;
      }
      if (journal === 'wal' && this.opts.checkpointer !== false) {
        this.checkpointer = new WalCheckpointer({ ...this.opts.checkpointer, path: this.opts.path, db, log: this.opts.log });
      }
    } catch (err) {
      this.handle = null;
      db.close();
      throw err;
    }
    this.closed = false;
    this.closing = null;
  }

  /** WalSync's recovery after a failed fsync: SQLite copies the WAL into the database file and syncs it. */
  private checkpointAfterSyncFailure(): void {
    const [r] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
    if (r.busy) throw new Error('the WAL could not be checkpointed (another connection holds it)');
    this.opts.log?.warn('checkpointed the SQLite WAL after a failed fsync');
  }

  private prepare(db: Database.Database) {
    return {
      insert: db.prepare('INSERT OR IGNORE INTO readings(id, device_id, group_id, window, received_at, doc) VALUES (?, ?, ?, ?, ?, ?)'),
      latest: db.prepare(`INSERT INTO latest(device_id, received_at, doc) VALUES (?, ?, ?)
        ON CONFLICT(device_id) DO UPDATE SET received_at = excluded.received_at, doc = excluded.doc
        WHERE excluded.received_at >= latest.received_at`),
      page: db.prepare<[number, number, number], Row>('SELECT seq, id, device_id, group_id, window, received_at, doc FROM readings WHERE window = ? AND seq > ? ORDER BY seq LIMIT ?'),
      del: db.prepare('DELETE FROM readings WHERE seq IN (SELECT seq FROM readings WHERE window = ? AND seq <= ? ORDER BY seq LIMIT ?)'),
      windows: db.prepare<[], { window: number; count: number; bytes: number }>('SELECT window, count, bytes FROM window_stats WHERE count > 0 ORDER BY window'),
      latestAll: db.prepare<[], { device_id: string; received_at: number; doc: string }>('SELECT device_id, received_at, doc FROM latest ORDER BY device_id'),
      windowsNewest: db.prepare<[], { window: number; max_at: number | null }>('SELECT window, max_at FROM window_stats WHERE count > 0 ORDER BY window DESC'),
      // One step of a device scan: every row is counted (received_at), only the device's are read.
      scan: db.prepare<[{ dev: string; window: number; before: number; n: number }], [number, number, string | null, string | null, string | null]>(
        `SELECT seq, received_at, CASE WHEN device_id = @dev THEN id END, CASE WHEN device_id = @dev THEN group_id END, CASE WHEN device_id = @dev THEN doc END
         FROM readings WHERE window = @window AND seq < @before ORDER BY seq DESC LIMIT @n`).raw(),
      quarantine: db.prepare('INSERT INTO quarantine(source, window, pos, raw, reason, at) VALUES (?, ?, ?, ?, ?, ?)'),
      delOne: db.prepare('DELETE FROM readings WHERE seq = ?'),
      ackedPut: db.prepare('INSERT INTO acked(device_id, record) VALUES (?, ?) ON CONFLICT(device_id) DO UPDATE SET record = excluded.record'),
      ackedDel: db.prepare('DELETE FROM acked WHERE device_id = ?'),
      ackedAll: db.prepare<[], { device_id: string; record: string }>('SELECT device_id, record FROM acked'),
    };
  }

  /**
   * Makes the readings durable; resolves with how many were new (the rest were already stored,
   * by id). Joins the current group commit.
   */
  append(readings: Reading[]): Promise<number> {
    if (this.closed || !this.handle) return Promise.reject(new Error('sqlite store is closed'));
    if (readings.length === 0) return Promise.resolve(0);
    let docs: string[];
    try {
      docs = readings.map((r) => JSON.stringify(r.doc));
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<number>((resolve, reject) => {
      this.pending.push({ readings, docs, resolve, reject });
      this.pendingCount += readings.length;
      if (this.pendingCount >= this.maxBatch) this.schedule(true);
      else this.schedule(false);
    });
  }

  private schedule(now: boolean): void {
    if (this.timer && !now) return;
    this.clearTimer();
    const flush = (): void => { this.timer = null; this.flush(); };
    this.timer = now || this.groupCommitMs === 0 ? setImmediate(flush) : setTimeout(flush, this.groupCommitMs);
  }

  private clearTimer(): void {
    if (!this.timer) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = null;
  }

  /**
   * Writes every pending append in one transaction and settles their promises once it is durable.
   * While an fsync of the WAL runs, the next group keeps filling and commits the moment that fsync
   * returns, as one transaction: its callers would wait for that fsync to end anyway (one runs at a
   * time), and many small commits write the same B-tree pages to the WAL again and again.
   */
  private flush(force = false): void {
    if (!force && this.wal?.busy && this.pendingCount < this.maxBatch) {
      if (!this.holding) {
        this.holding = true;
        this.wal.onceIdle(() => { this.holding = false; this.flush(true); });
      }
      return;
    }
    const batch = this.pending;
    this.pending = [];
    this.pendingCount = 0;
    if (batch.length === 0) return;
    const started = process.hrtime.bigint();
    let counts: number[];
    try {
      counts = this.write(batch);
    } catch (err) {
      this.opts.log?.error({ err: (err as Error).message, callers: batch.length }, 'sqlite group commit failed');
      for (const p of batch) p.reject(err);
      return;
    }
    this.checkpointer?.committed();
    const committed = batch.map((p) => p.readings);
    if (this.wal && this.opts.ackedRecords) this.unsynced.add(committed);
    // Dropped a turn later, once the callers' continuations have put these readings into their
    // durable record (until then a new transaction must still include them; they are committed).
    const forget = (): void => { setImmediate(() => this.unsynced.delete(committed)); };
    const settle = (): void => {
      forget();
      this.opts.metrics?.storeWriteSeconds.observe({ store: 'sqlite' }, Number(process.hrtime.bigint() - started) / 1e9);
      batch.forEach((p, i) => p.resolve(counts[i]));
    };
    // A rejected caller's readings are committed but maybe not on disk; the device's retry finds
    // them by id and stores nothing twice. WalSync logs the failure once for the whole round.
    if (this.wal) this.wal.after().then(settle, (err) => { forget(); for (const p of batch) p.reject(err); });
    else settle();
  }

  /**
   * Resolves once every commit made so far on this file (by any connection) is on disk. Appends
   * already wait for this; other writers are synchronous and, with the connection at NORMAL, are
   * durable only after the next fsync or checkpoint. Whether one must wait depends on what it
   * does next: a later commit never survives without the earlier ones (wal-sync.ts), so only
   * writes followed by an effect OUTSIDE this file need it:
   * - the upload manifest before each Atlas write and before the local delete (manifest.ts): a
   *   lost manifest would make a replay misjudge what Atlas holds;
   * - consolidation before it trims the Redis copy (consolidate.ts); the in-doubt ledger before the
   *   failed-over append is acknowledged (buffer.ts);
   * - not deleteWindow, quarantine moves, migrations, the inventory: losing them to a power cut
   *   only means deleting, quarantining or migrating again, or the next announcement.
   * A no-op in 'normal' mode (the operator chose to lose the last commits) and without WAL (FULL).
   */
  sync(): Promise<void> {
    if (this.closed || !this.handle) return Promise.reject(new Error('sqlite store is closed'));
    return this.wal ? this.wal.after() : Promise.resolve();
  }

  /**
   * One synchronous transaction for several groups of readings; returns the new-row count of
   * each group. Used by the group commit and by consolidation (which is already batched).
   */
  writeNow(groups: Reading[][]): number[] {
    return this.write(groups.map((readings) => ({ readings, docs: readings.map((r) => JSON.stringify(r.doc)) })));
  }

  /**
   * The `latest` rows are a view of the readings, so they need not be written with them: a device
   * sending every second rewrote its row in every commit, one more B-tree page per reading in
   * the WAL and on the card (at 50 readings/s from 50 devices, 129 -> 113 GiB/day with a 10 s
   * interval; 3.7 -> 2.9 KB per reading in-process at 32 readings per commit). A
   * device's row is written at most once per `latestEveryMs`, the newest waiting entry by a
   * trailing write; `latestEntries` merges what waits, so the API never sees the lag. A crash
   * loses at most that interval of the view, which the device's next reading repairs.
   */
  private write(groups: { readings: Reading[]; docs: string[] }[]): number[] {
    const db = this.db;
    const s = this.stmts;
    const counts = db.transaction(() => {
      // Each device's newest new reading of the whole transaction: one `latest` candidate per device.
      const newest = new Map<string, LatestCandidate>();
      const n = groups.map(({ readings, docs }) => {
        let fresh = 0;
        for (let i = 0; i < readings.length; i++) {
          const r = readings[i];
          if (s.insert.run(r.id, r.device_id, r.group_id, r.window, r.received_at, docs[i]).changes === 1) {
            fresh++;
            const cur = newest.get(r.device_id);
            if (!cur || cur.at <= r.received_at) newest.set(r.device_id, { device: r.device_id, at: r.received_at, json: docs[i], key: '' });
          }
        }
        return fresh;
      });
      if (this.opts.ackedRecords) {
        const earlier = this.unsynced.size > 0 ? [...this.unsynced].flat() : undefined;
        this.putAcked(this.opts.ackedRecords(groups.map((g) => g.readings), earlier));
      }
      // Last in the transaction: nothing after it can roll back readings the throttle now counts.
      for (const c of this.latest.take(newest.values())) s.latest.run(c.device, c.at, c.json);
      return n;
    }).immediate();
    this.commits++;
    this.latest.armTrailing();
    return counts;
  }

  private putAcked(records: Iterable<[string, string]>): void {
    for (const [d, rec] of records) {
      if (rec === '') this.stmts.ackedDel.run(d);
      else this.stmts.ackedPut.run(d, rec);
    }
  }

  /**
   * Rewrites the `acked` rows of these devices from `record` ('' deletes the row) in one
   * transaction: the mirror of what Redis acknowledged, and the pruning of forgotten devices. Not
   * fsynced on its own (the next commit's fsync covers it).
   */
  writeAcked(records: Iterable<[string, string]>): void {
    this.db.transaction(() => this.putAcked(records)).immediate();
  }

  /** Every device's stored acknowledged-record. */
  ackedRecords(): { device_id: string; record: string }[] {
    return this.stmts.ackedAll.all();
  }

  /** The trailing `latest` writes, one transaction for all that are due. Not fsynced on its own: the next commit's fsync or checkpoint covers it (it is a view). */
  private writeLatest(entries: LatestCandidate[]): void {
    if (entries.length === 0) return;
    try {
      this.db.transaction(() => { for (const c of entries) this.stmts.latest.run(c.device, c.at, c.json); }).immediate();
    } catch (err) {
      this.opts.log?.warn({ err: (err as Error).message, devices: entries.length }, 'latest view update failed; the next reading of each device repairs it');
    }
  }

  /** Commits what is pending, waits for its fsync, closes the database and then the WAL's descriptor. */
  close(): Promise<void> {
    if (!this.handle) return Promise.resolve();
    this.closing ??= (async () => {
      this.clearTimer();
      this.flush(true);
      this.closed = true;
      this.writeLatest(this.latest.drain());
      await this.wal?.close();
      this.wal = null;
      // The worker's connection closes first: the last one to close checkpoints and removes the WAL.
      await this.checkpointer?.stop();
      this.checkpointer = null;
      this.handle!.close();
      this.handle = null;
    })();
    return this.closing;
  }

  async latestPerDevice(): Promise<ReadingDoc[]> {
    return (await this.latestEntries()).map((e) => e.doc);
  }

  /** Latest reading per device with its receive time, so the failover layer can merge stores; with the entries not written yet. */
  async latestEntries(): Promise<LatestEntry[]> {
    const entry = (device: string, at: number, json: string): LatestEntry[] => {
      const doc = parseDoc(json);
      if (typeof doc !== 'string') return [{ device_id: device, received_at: at, doc }];
      this.opts.log?.warn({ device_id: device, reason: doc }, 'unreadable latest reading skipped');
      return [];
    };
    return withWaiting(
      this.stmts.latestAll.all().flatMap((row) => entry(row.device_id, row.received_at, row.doc)),
      [...this.latest.waitingEntries()].flatMap((c) => entry(c.device, c.at, c.json)),
    );
  }

  async listWindows(): Promise<WindowSummary[]> {
    return this.stmts.windows.all();
  }

  /**
   * Readings of a window in commit order after `after`. Rows whose `doc` cannot be read are
   * moved to `quarantine` and skipped; a page is never empty while readings remain, and `next`
   * is null only when the window has no more readings.
   */
  async readWindow(window: number, after: string | null, limit: number): Promise<WindowPage> {
    let cursor = after === null ? 0 : Number(after);
    if (!Number.isSafeInteger(cursor)) throw new Error(`bad sqlite position ${after}`);
    for (;;) {
      const rows = this.stmts.page.all(window, cursor, limit + 1);
      const more = rows.length > limit;
      const page = more ? rows.slice(0, limit) : rows;
      const readings: StoredReading[] = [];
      for (const row of page) {
        const r = this.toStored(row);
        if (r) readings.push(r);
      }
      const last = page.length ? page[page.length - 1].seq : cursor;
      if (readings.length > 0 || !more) return { readings, next: more ? String(last) : null };
      cursor = last; // the whole page was quarantined: keep going rather than hand back an empty page
    }
  }

  private toStored(row: Row): StoredReading | null {
    const doc = parseDoc(row.doc);
    if (typeof doc === 'string') {
      this.quarantineRow(row, doc);
      return null;
    }
    return { id: row.id, device_id: row.device_id, group_id: row.group_id, window: row.window, received_at: row.received_at, doc, pos: String(row.seq) };
  }

  /** Moves an unreadable row out of `readings` into `quarantine`, in one transaction. */
  private quarantineRow(row: Row, reason: string): void {
    this.db.transaction(() => {
      this.quarantine('sqlite', row.window, String(row.seq), row.doc, reason);
      this.stmts.delOne.run(row.seq);
    })();
  }

  /**
   * Deletes the window's readings with pos <= upTo; returns how many. Runs in transactions of
   * `DELETE_STEP` rows, yielding to the event loop between them, so deleting an uploaded hour of a
   * million readings never stalls intake for seconds. A crash part-way leaves the rest in place,
   * to be uploaded (idempotently) and deleted again.
   */
  async deleteWindow(window: number, upTo: string): Promise<number> {
    const n = Number(upTo);
    if (!Number.isSafeInteger(n)) throw new Error(`bad sqlite position ${upTo}`);
    let total = 0;
    for (;;) {
      const deleted = this.stmts.del.run(window, n, DELETE_STEP).changes;
      total += deleted;
      if (deleted < DELETE_STEP) return total;
      // A long delete dirties hundreds of pages per step; SQLite's own checkpoints of them, on this
      // loop with two fsyncs each, took half its time (an uploaded hour: 12 -> 8 us per row).
      if (total === DELETE_STEP) this.checkpointer?.demand();
      await new Promise((r) => setImmediate(r));
      if (!this.handle) throw new Error('sqlite store closed during a delete');
    }
  }

  /** Deletes every reading of the window; returns how many. */
  async dropWindow(window: number): Promise<number> {
    return this.deleteWindow(window, SQLITE_MAX_POS);
  }

  async deviceReadings(deviceId: string, query: DeviceQuery): Promise<ReadingDoc[]> {
    return (await this.deviceEntries(deviceId, query)).map((e) => e.doc);
  }

  /** A device's readings newest first, by receive time, with ids so the failover layer can merge (sqlite-device-scan.ts). */
  deviceEntries(deviceId: string, query: DeviceQuery): Promise<DeviceEntry[]> {
    return scanDevice({
      windows: () => this.stmts.windowsNewest.all(),
      step: (window, before, n) => this.stmts.scan.all({ dev: deviceId, window, before, n }),
      entry: (row) => this.toStored(row),
      isOpen: () => this.handle !== null,
    }, deviceId, query, this.opts.deviceScanBudget ?? 20_000);
  }

  async ping(): Promise<void> {
    if (this.closed || !this.handle) throw new Error('sqlite store is closed');
    this.handle.prepare('SELECT 1').get();
  }

  /**
   * Keeps an unreadable record aside (rule 5) and counts it in
   * `iotgw_records_quarantined_total{store}`; the one place that counts, whoever found it.
   */
  quarantine(source: StoreKind, window: number, pos: string, raw: string, reason: string): void {
    this.stmts.quarantine.run(source, window, pos, raw, reason, Date.now());
    // The Redis store blanks its copy next (durable within Redis's fsync second): start an fsync
    // now so the kept copy is on disk about as soon, without making this call async.
    this.wal?.after().catch(() => undefined);
    this.opts.metrics?.recordsQuarantined.inc({ store: source });
    this.opts.log?.warn({ store: source, window, pos, reason }, 'unreadable record quarantined');
  }

  /** Quarantined records, newest first (for tests and the operator). */
  quarantined(limit = 100): { id: number; source: string; window: number; pos: string; raw: string; reason: string; at: number }[] {
    return this.db.prepare('SELECT id, source, window, pos, raw, reason, at FROM quarantine ORDER BY id DESC LIMIT ?').all(limit) as never;
  }

  /**
   * Runs `fn` once per database file, in a transaction, recorded under `meta('migration:<name>')`.
   * The uploader keeps its manifest in this file through it.
   */
  migrate(name: string, fn: (db: Database.Database) => void): void {
    const db = this.db;
    db.transaction(() => {
      const key = `migration:${name}`;
      if (db.prepare('SELECT 1 FROM meta WHERE key = ?').get(key)) return;
      fn(db);
      db.prepare('INSERT INTO meta(key, value) VALUES (?, ?)').run(key, new Date().toISOString());
    }).immediate();
  }
}
