import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Reading, ReadingDoc, StoredReading } from '../reading.ts';
import type { AckedRecordsFor, DeviceQuery, QuarantineSink, ReadingStore, StoreKind, WindowPage, WindowSummary } from './store.ts';
import { parseDoc, type LatestEntry, type DeviceEntry } from './records.ts';
import { WalSync, fsyncFd, type SyncWal } from './wal-sync.ts';
import { WalCheckpointer, type WalCheckpointerOptions } from './wal-checkpointer.ts';
import { MIGRATIONS, SCHEMA, chunkTableSql, windowTable } from './sqlite-schema.ts';
import { LINES_PER_CHUNK, bodyLines, chunkPos, decodeLine, deviceNeedle, encodeChunk, lineId, packBody, posLine, posSeq, type Body } from './sqlite-chunks.ts';
import { AckedLedger } from './acked-ledger.ts';
import { devicePage } from './device-pages.ts';
import { withWaiting, type LatestCandidate } from './latest-throttle.ts';

export interface SqliteStoreOptions {
  /** A real file; its directory is created. */
  path: string;
  /**
   * Group commit over time: an append waits at most this many ms after the first waiting append
   * of its group before the group commits (default 0: those queued in the same tick). See flush.
   */
  groupCommitMs?: number;
  /** ... or the group commits at once when this many append calls wait (default 16; config sqlite.group_commit_max). */
  groupCommitMax?: number;
  /**
   * 'full' (default): an append resolves once its commit is on disk (the connection runs NORMAL and
   * the WAL is fsynced off the event loop, see the class comment). 'normal': SQLite's NORMAL, no
   * fsync per commit; a power cut may lose the last commits.
   */
  synchronous?: 'full' | 'normal';
  busyTimeoutMs?: number;
  /**
   * The database page size (default 1024). A commit costs whole pages of the WAL file, and each
   * 4 KiB page with its 24-byte frame header spans two or three of the file system's pages, so a
   * commit of one small row wrote ~10 KiB; a 1 KiB page makes it ~5 KiB (docs/operations.md). A
   * file with another size is rewritten once at open (VACUUM, in rollback-journal mode: atomic).
   */
  pageSize?: number;
  /** A group commit is flushed early once it holds this many readings. */
  maxBatch?: number;
  /**
   * The `latest` table (GET /redis) is written at most this often, every device that changed in
   * one transaction (default 10000); the newest entries live in memory and are merged into
   * `latestEntries`, and opening the store rebuilds them from the buffered readings.
   */
  latestEveryMs?: number;
  /** The windows' count/bytes snapshot (`windows` table) is written at most this often (default 10000). */
  statsEveryMs?: number;
  /** The checkpoint worker's settings (wal-checkpointer.ts); false keeps checkpoints on the event loop. */
  checkpointer?: Omit<WalCheckpointerOptions, 'path' | 'db' | 'log'> | false;
  /**
   * The buffer's acknowledged-record (issue 21; buffer.ts). Accepted for the store interface; this
   * store does not write a record with every commit (one more B-tree page per device and commit
   * on the card): the buffered chunks are the record of what they hold (`ackedRecords` rebuilds
   * it from them), and the `acked` rows of a window's devices are written in the transaction
   * that drops or cuts the window, so what leaves the file is recorded as it leaves.
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

/** A window's live figures (the `windows` row is a coarse snapshot of them). */
interface WindowState {
  count: number;
  bytes: number;
  /** Newest chunk seq of the window. */
  last: number;
  /** Newest chunk seq the snapshot counts. */
  upto: number;
  dirty: boolean;
}

/**
 * A group's callers that all send again within this long after their ack are a closed loop (a
 * client that sends one request at a time, or N connections each waiting for its answer): their
 * group commits as soon as they are all back instead of waiting group_commit_ms, so a sequential
 * client is not held to one request per group_commit_ms. Boards at a site rate rarely come back
 * that fast all at once (at 10 readings/s, 1 in 20 arrivals lands within 5 ms of an ack).
 */
const FOLLOW_MS = 5;

/** Chunk rows deleted per transaction by a partial deleteWindow. */
const DELETE_STEP = 500;
/** Chunks read per step by readWindow and the device lookup. */
const READ_STEP = 64;

/** Positions are `seq * LINES_PER_CHUNK + line` as a decimal string; this one is past every real position. */
export const SQLITE_MAX_POS = String(Number.MAX_SAFE_INTEGER);

/** `dev:<device_id>/<boot_id>/<seq>` (validate.ts): the parts the acknowledged-record keys by. */
function devParts(id: string): [string, string, number] | null {
  if (!id.startsWith('dev:')) return null;
  const a = id.indexOf('/', 4);
  const b = id.lastIndexOf('/');
  if (a < 0 || b <= a) return null;
  const seq = Number(id.slice(b + 1));
  if (!Number.isSafeInteger(seq) || seq < 0 || String(seq) !== id.slice(b + 1)) return null;
  return [id.slice(4, a), id.slice(a + 1, b), seq];
}

/**
 * The SQLite buffer: always open, because it is the fallback while Redis is down, the outbox for
 * windows spilled out of Redis, and where quarantined records are kept.
 *
 * Layout (issue 18; sqlite-schema.ts, sqlite-chunks.ts): one table per window, one row per append
 * call, in store order under an integer key, no secondary index, so a commit of a few requests
 * touches the table's rightmost leaf and little else, and an uploaded window is one DROP TABLE.
 * Window figures and `latest` live in memory and are written coarsely.
 *
 * Dedup without a per-reading index: `dev:` ids (a board's retries) are checked against the
 * acknowledged-record (acked-ledger.ts), per (device, boot) intervals of seq, rebuilt from the
 * buffered chunks at open; `rcv:` ids are minted per receipt and cannot repeat. Consolidation
 * (Redis → SQLite) checks against the window's ids (`windowIds`), which makes a copied-again
 * page after a crash harmless.
 *
 * Group commit: appends join a group that commits when `groupCommitMax` calls wait, or
 * `groupCommitMs` after the first of them (0: the same tick), or when the running WAL fsync
 * returns; a failed transaction rejects every caller of that group (nothing from it is stored).
 *
 * Durability ('full', the default): a resolved `append` survives a power cut, as with SQLite's
 * `synchronous=FULL`, but without an fsync on the event loop. The connection runs NORMAL and the
 * callers of a commit wait for an fsync of the `-wal` file on libuv's thread pool that started
 * after their COMMIT returned; wal-sync.ts explains why that is FULL's guarantee. A commit is
 * visible to readers before it is durable, so a writer whose next step leaves this file (a Redis
 * trim, an Atlas write) calls `sync()` first.
 */
export class SqliteStore implements ReadingStore, QuarantineSink {
  readonly kind: StoreKind = 'sqlite';
  /** Committed append transactions; tests use it to see that group commit really groups. */
  commits = 0;
  /** Groups that waited the whole group_commit_ms (tests: a closed loop does not). */
  timedGroups = 0;
  /** Readings answered as duplicates by the acknowledged-record. */
  duplicates = 0;
  private handle: Database.Database | null = null;
  private pending: Pending[] = [];
  private pendingCount = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private closed = false;
  private stmts!: ReturnType<SqliteStore['prepare']>;
  private wal: WalSync | null = null;
  private checkpointer: WalCheckpointer | null = null;
  private closing: Promise<void> | null = null;
  private readonly groupCommitMs: number;
  private readonly groupCommitMax: number;
  private readonly maxBatch: number;
  private holding = false;
  /** Each device's newest reading not yet written to `latest`. */
  private readonly latestWaiting = new Map<string, LatestCandidate>();
  private latestTimer: NodeJS.Timeout | null = null;
  private readonly windows = new Map<number, WindowState>();
  private readonly insertStmts = new Map<number, Database.Statement>();
  private nextSeq = 1;
  private acked = new AckedLedger();
  /** Ids of other shapes that a sender may repeat, per window (rare: not `rcv:`, and not a `dev:` id with an integer seq). */
  private odd = new Map<number, Set<string>>();
  private statsTimer: NodeJS.Timeout | null = null;
  /** When the last group's callers were answered, how many they were, and how many appends came since (FOLLOW_MS). */
  private lastSettleAt = -Infinity;
  private lastGroupCallers = 0;
  private arrivedSinceSettle = 0;

  constructor(private readonly opts: SqliteStoreOptions) {
    this.groupCommitMs = opts.groupCommitMs ?? 0;
    this.groupCommitMax = opts.groupCommitMax ?? 16;
    this.maxBatch = opts.maxBatch ?? 5000;
  }

  get walCheckpointer(): WalCheckpointer | null {
    return this.checkpointer;
  }

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
      this.setPageSize(db, this.opts.pageSize ?? 1024);
      const journal = db.pragma('journal_mode = WAL', { simple: true });
      const full = (this.opts.synchronous ?? 'full') === 'full';
      const ownSync = full && journal === 'wal';
      if (full && !ownSync) this.opts.log?.warn({ journal }, 'SQLite is not in WAL mode: commits fsync on the event loop');
      db.pragma(`synchronous = ${full && !ownSync ? 'FULL' : 'NORMAL'}`);
      db.pragma(`busy_timeout = ${this.opts.busyTimeoutMs ?? 5000}`);
      db.exec(SCHEMA);
      this.handle = db;
      for (const [name, fn] of MIGRATIONS) this.migrate(name, fn);
      this.stmts = this.prepare(db);
      this.load();
      if (ownSync) {
        db.prepare('SELECT count(*) FROM sqlite_master').get();
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
    this.statsTimer = setInterval(() => this.writeStats(), this.opts.statsEveryMs ?? 10_000);
    this.statsTimer.unref();
    this.latestTimer = setInterval(() => this.writeLatest(), Math.max(1, this.opts.latestEveryMs ?? 10_000));
    this.latestTimer.unref();
  }

  /** Before anything else touches the file: a new file gets the size, an older one is rewritten with it. */
  private setPageSize(db: Database.Database, size: number): void {
    if (db.pragma('page_size', { simple: true }) === size) return;
    const empty = (db.prepare('SELECT count(*) FROM sqlite_master').pluck().get() as number) === 0;
    if (!empty) {
      this.opts.log?.info({ path: this.opts.path, page_size: size }, 'rewriting the SQLite buffer with its new page size (once)');
      db.pragma('journal_mode = DELETE');
    }
    db.pragma(`page_size = ${size}`);
    if (!empty) db.exec('VACUUM');
  }

  /**
   * Rebuilds the in-memory state from the file: each window's figures (snapshot + the chunks
   * after it), the next seq, and the acknowledged-record of the buffered `dev:` ids (reads every
   * chunk's body once; reads do not wear a card).
   */
  private load(): void {
    const db = this.db;
    this.latestWaiting.clear();
    this.windows.clear();
    this.insertStmts.clear();
    this.acked = new AckedLedger();
    this.odd.clear();
    const floor = Number((db.prepare("SELECT value FROM meta WHERE key = 'seq_floor'").get() as { value: string } | undefined)?.value ?? 0);
    let maxSeq = floor;
    const now = Date.now();
    const newest = new Map<string, { at: number; doc: unknown }>();
    for (const row of db.prepare('SELECT window, count, bytes, upto FROM windows').all() as { window: number; count: number; bytes: number; upto: number }[]) {
      const t = windowTable(row.window);
      const st: WindowState = { count: row.count, bytes: row.bytes, last: row.upto, upto: row.upto, dirty: false };
      const tail = db.prepare(`SELECT coalesce(sum(n), 0) AS n, coalesce(sum(bytes), 0) AS b, max(seq) AS last FROM ${t} WHERE seq > ?`).get(row.upto) as { n: number; b: number; last: number | null };
      st.count += tail.n;
      st.bytes += tail.b;
      if (tail.last !== null) { st.last = tail.last; st.dirty = true; }
      const top = (db.prepare(`SELECT max(seq) AS m FROM ${t}`).get() as { m: number | null }).m;
      if (top !== null) st.last = Math.max(st.last, top);
      maxSeq = Math.max(maxSeq, st.last);
      this.windows.set(row.window, st);
      for (const body of db.prepare(`SELECT body FROM ${t}`).pluck().iterate() as Iterable<Body>) {
        for (const line of bodyLines(body)) {
          if (line.length === 0) continue;
          const d = decodeLine(line);
          if (typeof d === 'string') continue; // readWindow quarantines it
          this.remember(d.id, row.window, now);
          const cur = newest.get(d.device_id);
          if (!cur || cur.at <= d.received_at) newest.set(d.device_id, { at: d.received_at, doc: d.doc });
        }
      }
    }
    // Serialized once per device, not per buffered reading: a day's backlog is millions of lines.
    for (const [device, c] of newest) this.noteLatest(device, c.at, JSON.stringify(c.doc));
    this.nextSeq = maxSeq + 1;
  }

  /** A device's newest reading for `latest` (`json`: its doc as JSON); an older one is ignored. */
  private noteLatest(device: string, at: number, json: string): void {
    const cur = this.latestWaiting.get(device);
    if (cur && cur.at > at) return;
    this.latestWaiting.set(device, { device, at, json, key: '' });
  }

  /** `rcv:` ids are minted per receipt and never repeat; any other id may come again (a retry). */
  private remember(id: string, window: number, now: number): void {
    if (id.startsWith('rcv:')) return;
    const p = devParts(id);
    if (p) this.acked.add(p[0], p[1], p[2], now);
    else {
      let set = this.odd.get(window);
      if (!set) this.odd.set(window, (set = new Set()));
      set.add(id);
    }
  }

  private known(id: string, window: number): boolean {
    if (id.startsWith('rcv:')) return false;
    const p = devParts(id);
    return p ? this.acked.has(p[0], p[1], p[2]) : this.odd.get(window)?.has(id) === true;
  }

  private checkpointAfterSyncFailure(): void {
    const [r] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
    if (r.busy) throw new Error('the WAL could not be checkpointed (another connection holds it)');
    this.opts.log?.warn('checkpointed the SQLite WAL after a failed fsync');
  }

  private prepare(db: Database.Database) {
    return {
      latest: db.prepare(`INSERT INTO latest(device_id, received_at, doc) VALUES (?, ?, ?)
        ON CONFLICT(device_id) DO UPDATE SET received_at = excluded.received_at, doc = excluded.doc
        WHERE excluded.received_at >= latest.received_at`),
      latestAll: db.prepare<[], { device_id: string; received_at: number; doc: string }>('SELECT device_id, received_at, doc FROM latest ORDER BY device_id'),
      quarantine: db.prepare('INSERT INTO quarantine(source, window, pos, raw, reason, at) VALUES (?, ?, ?, ?, ?, ?)'),
      windowRow: db.prepare('INSERT INTO windows(window, count, bytes, upto) VALUES (?, 0, 0, 0) ON CONFLICT(window) DO NOTHING'),
      stats: db.prepare('UPDATE windows SET count = ?, bytes = ?, upto = ? WHERE window = ?'),
      dropRow: db.prepare('DELETE FROM windows WHERE window = ?'),
      floor: db.prepare("INSERT INTO meta(key, value) VALUES ('seq_floor', ?) ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), excluded.value)"),
      ackedPut: db.prepare('INSERT INTO acked(device_id, record) VALUES (?, ?) ON CONFLICT(device_id) DO UPDATE SET record = excluded.record'),
      ackedDel: db.prepare('DELETE FROM acked WHERE device_id = ?'),
      ackedGet: db.prepare<[string], { record: string }>('SELECT record FROM acked WHERE device_id = ?'),
      ackedAll: db.prepare<[], { device_id: string; record: string }>('SELECT device_id, record FROM acked'),
    };
  }

  /** Makes the readings durable; resolves with how many were new (the rest were duplicates). Joins the current group commit. */
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
      this.arrivedSinceSettle++;
      const closedLoop = this.arrivedSinceSettle >= this.lastGroupCallers && performance.now() - this.lastSettleAt <= FOLLOW_MS;
      if (this.pendingCount >= this.maxBatch) this.schedule(true, true);
      else this.schedule(this.pending.length >= this.groupCommitMax || closedLoop);
    });
  }

  /** The group's timer starts with its first append and is not pushed back by later ones (W bounds the wait). */
  private schedule(now: boolean, force = false): void {
    if (this.timer && !now) return;
    this.clearTimer();
    const flush = (): void => { this.timer = null; this.flush(force); };
    if (now || this.groupCommitMs === 0) this.timer = setImmediate(flush);
    else this.timer = setTimeout(() => { this.timedGroups++; flush(); }, this.groupCommitMs);
  }

  private clearTimer(): void {
    if (!this.timer) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = null;
  }

  /**
   * Writes every pending append in one transaction and settles their promises once it is durable.
   * While an fsync of the WAL runs, the group keeps filling (even past groupCommitMax, up to
   * maxBatch readings) and commits the moment that fsync returns: its callers would wait for that
   * fsync to end anyway (one runs at a time), and one commit of many writes fewer pages than two.
   */
  private flush(full = false): void {
    // full: commit now even while an fsync runs (maxBatch readings wait, or the store closes).
    if (!full && this.wal?.busy && this.pendingCount < this.maxBatch) {
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
    const settle = (): void => {
      this.lastSettleAt = performance.now();
      this.lastGroupCallers = batch.length;
      this.arrivedSinceSettle = 0;
      this.opts.metrics?.storeWriteSeconds.observe({ store: 'sqlite' }, Number(process.hrtime.bigint() - started) / 1e9);
      batch.forEach((p, i) => p.resolve(counts[i]));
    };
    if (this.wal) this.wal.after().then(settle, (err) => { for (const p of batch) p.reject(err); });
    else settle();
  }

  /** Resolves once every commit made so far on this file is on disk (see the class comment). */
  sync(): Promise<void> {
    if (this.closed || !this.handle) return Promise.reject(new Error('sqlite store is closed'));
    return this.wal ? this.wal.after() : Promise.resolve();
  }

  /**
   * One synchronous transaction for several groups of readings; returns the new-reading count of
   * each group. `seen`: ids to treat as stored (consolidation passes `windowIds`); the ids written
   * are added to it.
   */
  writeNow(groups: Reading[][], seen?: Set<string>): number[] {
    return this.write(groups.map((readings) => ({ readings, docs: readings.map((r) => JSON.stringify(r.doc)) })), seen);
  }

  /** Every id the window holds (consolidation's dedup: O(window), once per consolidation). */
  windowIds(window: number): Set<string> {
    const ids = new Set<string>();
    if (!this.windows.has(window)) return ids;
    for (const body of this.db.prepare(`SELECT body FROM ${windowTable(window)}`).pluck().iterate() as Iterable<Body>) {
      for (const line of bodyLines(body)) {
        const id = lineId(line);
        if (id) ids.add(id);
      }
    }
    return ids;
  }

  private insertFor(window: number): Database.Statement {
    let st = this.insertStmts.get(window);
    if (!st) {
      st = this.db.prepare(`INSERT INTO ${windowTable(window)}(seq, n, bytes, at, devices, body) VALUES (?, ?, ?, ?, ?, ?)`);
      this.insertStmts.set(window, st);
    }
    return st;
  }

  /**
   * One row per append call and window, nothing else: `latest` and the window figures are kept in
   * memory and written coarsely (writeLatest, writeStats); the acknowledged-record and the
   * figures change only after the transaction committed.
   */
  private write(groups: { readings: Reading[]; docs: string[] }[], seen?: Set<string>): number[] {
    const db = this.db;
    const newest = new Map<string, LatestCandidate>();
    const added: { window: number; n: number; bytes: number; seq: number }[] = [];
    const ids: [string, number][] = [];
    const inTx = new Set<string>();
    let seq = this.nextSeq;
    const created: number[] = [];
    const run = db.transaction(() => {
      // One chunk per window for the whole transaction (all its append calls): one row, one B-tree cell.
      const byWindow = new Map<number, { rs: Reading[]; ds: string[] }>();
      const n = groups.map(({ readings, docs }) => {
        let fresh = 0;
        for (let i = 0; i < readings.length; i++) {
          const r = readings[i];
          if (this.known(r.id, r.window) || inTx.has(r.id) || seen?.has(r.id)) continue;
          inTx.add(r.id);
          let g = byWindow.get(r.window);
          if (!g) byWindow.set(r.window, (g = { rs: [], ds: [] }));
          g.rs.push(r);
          g.ds.push(docs[i]);
          ids.push([r.id, r.window]);
          fresh++;
          const cur = newest.get(r.device_id);
          if (!cur || cur.at <= r.received_at) newest.set(r.device_id, { device: r.device_id, at: r.received_at, json: docs[i], key: '' });
        }
        return fresh;
      });
      for (const [window, g] of byWindow) {
        if (!this.windows.has(window)) {
          db.exec(chunkTableSql(window));
          this.stmts.windowRow.run(window);
          created.push(window);
        }
        for (let at = 0; at < g.rs.length; at += LINES_PER_CHUNK - 1) {
          const c = encodeChunk(g.rs.slice(at, at + LINES_PER_CHUNK - 1), g.ds.slice(at, at + LINES_PER_CHUNK - 1));
          this.insertFor(window).run(seq, c.n, c.bytes, c.at, c.devices, c.body);
          added.push({ window, n: c.n, bytes: c.bytes, seq });
          seq++;
        }
      }
      return n;
    });
    let counts: number[];
    try {
      counts = run.immediate();
    } catch (err) {
      for (const w of created) this.insertStmts.delete(w); // their tables were rolled back
      throw err;
    }
    this.nextSeq = seq;
    this.commits++;
    const now = Date.now();
    for (const w of created) this.windows.set(w, { count: 0, bytes: 0, last: 0, upto: 0, dirty: true });
    for (const a of added) {
      const st = this.windows.get(a.window)!;
      st.count += a.n;
      st.bytes += a.bytes;
      st.last = a.seq;
      st.dirty = true;
    }
    for (const [id, w] of ids) {
      this.remember(id, w, now);
      seen?.add(id);
    }
    const total = groups.reduce((s, g) => s + g.readings.length, 0);
    this.duplicates += total - counts.reduce((s, x) => s + x, 0);
    for (const c of newest.values()) this.noteLatest(c.device, c.at, c.json);
    return counts;
  }

  /** The windows' figures as a snapshot, for the windows that changed; not fsynced on its own (a crash only means recounting the tail at open). */
  private writeStats(): void {
    if (!this.handle) return;
    const dirty = [...this.windows].filter(([, st]) => st.dirty);
    if (dirty.length === 0) return;
    try {
      this.db.transaction(() => {
        for (const [w, st] of dirty) this.stmts.stats.run(st.count, st.bytes, st.last, w);
      }).immediate();
      for (const [, st] of dirty) { st.upto = st.last; st.dirty = false; }
    } catch (err) {
      this.opts.log?.warn({ err: (err as Error).message }, 'window figures snapshot failed; the next one retries');
    }
  }

  /**
   * Every waiting `latest` entry in one transaction, once per `latestEveryMs`: the view of the
   * newest reading per device costs a few pages per interval instead of one more page in most
   * commits (50 devices at 1 reading/s rewrote a `latest` page in about every commit). Not
   * fsynced on its own; a crash loses nothing the next open does not rebuild from the readings.
   */
  private writeLatest(): void {
    if (this.latestWaiting.size === 0 || !this.handle) return;
    const entries = [...this.latestWaiting.values()];
    try {
      this.db.transaction(() => { for (const c of entries) this.stmts.latest.run(c.device, c.at, c.json); }).immediate();
      for (const c of entries) if (this.latestWaiting.get(c.device) === c) this.latestWaiting.delete(c.device);
    } catch (err) {
      this.opts.log?.warn({ err: (err as Error).message, devices: entries.length }, 'latest view update failed; retried at the next interval');
    }
  }

  private putAcked(records: Iterable<[string, string]>): void {
    for (const [d, rec] of records) {
      if (rec === '') this.stmts.ackedDel.run(d);
      else this.stmts.ackedPut.run(d, rec);
    }
  }

  /**
   * Rewrites the `acked` rows of these devices ('' deletes the row) in one transaction: the
   * buffer's mirror of what Redis acknowledged, and the pruning of forgotten devices. Not fsynced
   * on its own (the next commit's fsync covers it).
   */
  writeAcked(records: Iterable<[string, string]>): void {
    this.db.transaction(() => this.putAcked(records)).immediate();
  }

  /**
   * Every device's acknowledged-record as this file holds it: the `acked` row united with the
   * `dev:` readings of the buffered chunks (this store's own record, rebuilt at open and kept by
   * every commit). Never a reading the file does not hold or did not hold when its window left.
   */
  ackedRecords(): { device_id: string; record: string }[] {
    const all = new AckedLedger();
    for (const row of this.stmts.ackedAll.all()) {
      try { all.merge(row.device_id, row.record); } catch { /* the buffer logs unreadable rows when it merges them itself */ }
    }
    for (const d of this.acked.devices()) all.merge(d, this.acked.serialize(d));
    return [...all.devices()].map((d) => ({ device_id: d, record: all.serialize(d) })).filter((r) => r.record !== '');
  }

  /**
   * Inside a transaction that removes readings of these devices from the file: their `acked` rows
   * become the row united with this store's record, so what leaves the chunks stays recorded.
   */
  private recordLeaving(devices: Iterable<string>): void {
    for (const d of devices) {
      const mine = this.acked.serialize(d);
      if (mine === '') continue;
      const row = this.stmts.ackedGet.get(d)?.record;
      if (!row) { this.stmts.ackedPut.run(d, mine); continue; }
      const both = new AckedLedger();
      try { both.merge(d, row); } catch { /* rewritten from this store's record */ }
      both.merge(d, mine);
      this.stmts.ackedPut.run(d, both.serialize(d));
    }
  }

  /** The devices of a window's chunks (their `devices` column), optionally only chunks with seq <= `upToSeq`. */
  private windowDevices(window: number, upToSeq = Number.MAX_SAFE_INTEGER): Set<string> {
    const out = new Set<string>();
    for (const list of this.db.prepare(`SELECT devices FROM ${windowTable(window)} WHERE seq <= ?`).pluck().iterate(upToSeq) as Iterable<string>) {
      for (const d of list.split('\n')) if (d) out.add(d);
    }
    return out;
  }

  /** Commits what is pending, waits for its fsync, closes the database and then the WAL's descriptor. */
  close(): Promise<void> {
    if (!this.handle) return Promise.resolve();
    this.closing ??= (async () => {
      this.clearTimer();
      this.flush(true);
      this.closed = true;
      if (this.statsTimer) clearInterval(this.statsTimer);
      if (this.latestTimer) clearInterval(this.latestTimer);
      this.statsTimer = null;
      this.latestTimer = null;
      this.writeLatest();
      this.writeStats();
      await this.wal?.close();
      this.wal = null;
      await this.checkpointer?.stop();
      this.checkpointer = null;
      this.insertStmts.clear();
      this.handle!.close();
      this.handle = null;
    })();
    return this.closing;
  }

  async latestPerDevice(): Promise<ReadingDoc[]> {
    return (await this.latestEntries()).map((e) => e.doc);
  }

  async latestEntries(): Promise<LatestEntry[]> {
    const entry = (device: string, at: number, json: string): LatestEntry[] => {
      const doc = parseDoc(json);
      if (typeof doc !== 'string') return [{ device_id: device, received_at: at, doc }];
      this.opts.log?.warn({ device_id: device, reason: doc }, 'unreadable latest reading skipped');
      return [];
    };
    return withWaiting(
      this.stmts.latestAll.all().flatMap((row) => entry(row.device_id, row.received_at, row.doc)),
      [...this.latestWaiting.values()].flatMap((c) => entry(c.device, c.at, c.json)),
    );
  }

  async listWindows(): Promise<WindowSummary[]> {
    return [...this.windows].filter(([, st]) => st.count > 0).sort((a, b) => a[0] - b[0]).map(([window, st]) => ({ window, count: st.count, bytes: st.bytes }));
  }

  /**
   * Readings of a window in store order after `after`. Unreadable lines are moved to
   * `quarantine` and skipped; a page is never empty while readings remain, and `next` is null
   * only when the window has no more readings.
   */
  async readWindow(window: number, after: string | null, limit: number): Promise<WindowPage> {
    const from = after === null ? -1 : Number(after);
    if (!Number.isSafeInteger(from)) throw new Error(`bad sqlite position ${after}`);
    if (!this.windows.has(window)) return { readings: [], next: null };
    const stmt = this.db.prepare(`SELECT seq, body FROM ${windowTable(window)} WHERE seq >= ? ORDER BY seq LIMIT ?`);
    const out: StoredReading[] = [];
    let seq = from < 0 ? 0 : posSeq(from);
    for (;;) {
      const rows = stmt.all(seq, READ_STEP) as { seq: number; body: Body }[];
      for (const row of rows) {
        const lines = bodyLines(row.body);
        for (let i = 0; i < lines.length; i++) {
          const pos = chunkPos(row.seq, i);
          if (pos <= from || lines[i].length === 0) continue;
          const d = decodeLine(lines[i]);
          if (typeof d === 'string') {
            this.quarantineLine(window, row.seq, i, lines[i], d);
            continue;
          }
          if (out.length === limit) return { readings: out, next: out[out.length - 1].pos };
          out.push({ id: d.id, device_id: d.device_id, group_id: d.group_id, window, received_at: d.received_at, doc: d.doc, pos: String(pos) });
        }
      }
      if (rows.length < READ_STEP) return { readings: out, next: null };
      seq = rows[rows.length - 1].seq + 1;
    }
  }

  /** Blanks some lines of a chunk (quarantine, a partial delete): the row keeps its other lines and their positions; an empty chunk is deleted. */
  private blankLines(window: number, seq: number, which: (line: number) => boolean): { n: number; bytes: number; raw: string[] } {
    const t = windowTable(window);
    const row = this.db.prepare(`SELECT n, bytes, body FROM ${t} WHERE seq = ?`).get(seq) as { n: number; bytes: number; body: Body } | undefined;
    if (!row) return { n: 0, bytes: 0, raw: [] };
    const lines = bodyLines(row.body);
    let n = 0;
    let bytes = 0;
    const raw: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].length === 0 || !which(i)) continue;
      const d = decodeLine(lines[i]);
      bytes += typeof d === 'string' ? 0 : Buffer.byteLength(JSON.stringify(d.doc));
      raw.push(lines[i]);
      lines[i] = '';
      n++;
    }
    if (n === 0) return { n, bytes, raw };
    if (row.n - n <= 0) this.db.prepare(`DELETE FROM ${t} WHERE seq = ?`).run(seq);
    else this.db.prepare(`UPDATE ${t} SET n = ?, bytes = ?, body = ? WHERE seq = ?`).run(row.n - n, Math.max(0, row.bytes - bytes), packBody(lines), seq);
    const st = this.windows.get(window)!;
    st.count -= n;
    st.bytes = Math.max(0, st.bytes - bytes);
    return { n, bytes, raw };
  }

  /** Persists a window's figures inside the caller's transaction (deletes and quarantine change counted chunks). */
  private snapshot(window: number): void {
    const st = this.windows.get(window);
    if (!st) return;
    this.stmts.stats.run(st.count, st.bytes, st.last, window);
    st.upto = st.last;
    st.dirty = false;
  }

  /** Moves an unreadable line into `quarantine` and blanks it, in one transaction. */
  private quarantineLine(window: number, seq: number, line: number, raw: string, reason: string): void {
    this.db.transaction(() => {
      this.quarantine('sqlite', window, String(chunkPos(seq, line)), raw, reason);
      const t = windowTable(window);
      const row = this.db.prepare(`SELECT n, body FROM ${t} WHERE seq = ?`).get(seq) as { n: number; body: Body };
      const lines = bodyLines(row.body);
      lines[line] = '';
      if (row.n <= 1) this.db.prepare(`DELETE FROM ${t} WHERE seq = ?`).run(seq);
      else this.db.prepare(`UPDATE ${t} SET n = n - 1, body = ? WHERE seq = ?`).run(packBody(lines), seq);
      const st = this.windows.get(window)!;
      st.count -= 1;
      this.snapshot(window);
    })();
  }

  /**
   * Deletes the window's readings with pos <= upTo; returns how many. When that is every reading
   * of the window (the uploader's case), the window's table is dropped in one transaction: the
   * cost does not grow with the readings (SQLite puts the table's pages on its free list, writing
   * only the list's trunk pages). Otherwise whole chunks go in steps of DELETE_STEP rows with a
   * yield between them, and the chunk holding `upTo` loses its lines up to it.
   */
  async deleteWindow(window: number, upTo: string): Promise<number> {
    const n = Number(upTo);
    if (!Number.isSafeInteger(n)) throw new Error(`bad sqlite position ${upTo}`);
    const st = this.windows.get(window);
    if (!st) return 0;
    const t = windowTable(window);
    const cutSeq = posSeq(n);
    const dropped = this.db.transaction(() => {
      const top = this.db.prepare(`SELECT seq, body FROM ${t} ORDER BY seq DESC LIMIT 1`).get() as { seq: number; body: Body } | undefined;
      const all = !top || top.seq < cutSeq || (top.seq === cutSeq && bodyLines(top.body).length - 1 <= posLine(n));
      if (!all) return null;
      const count = st.count;
      this.recordLeaving(this.windowDevices(window));
      this.db.exec(`DROP TABLE ${t}`);
      this.stmts.dropRow.run(window);
      this.stmts.floor.run(String(Math.max(st.last, this.nextSeq - 1)));
      return count;
    }).immediate();
    if (dropped !== null) {
      this.windows.delete(window);
      this.insertStmts.delete(window);
      this.odd.delete(window);
      return dropped;
    }
    let total = 0;
    for (;;) {
      const step = this.db.transaction(() => {
        const seqs = this.db.prepare(`SELECT seq, n, bytes FROM ${t} WHERE seq < ? ORDER BY seq LIMIT ?`).all(cutSeq, DELETE_STEP) as { seq: number; n: number; bytes: number }[];
        if (seqs.length === 0) return 0;
        this.recordLeaving(this.windowDevices(window, seqs[seqs.length - 1].seq));
        this.db.prepare(`DELETE FROM ${t} WHERE seq <= ?`).run(seqs[seqs.length - 1].seq);
        const k = seqs.reduce((s, r) => s + r.n, 0);
        st.count -= k;
        st.bytes = Math.max(0, st.bytes - seqs.reduce((s, r) => s + r.bytes, 0));
        this.snapshot(window);
        return seqs.length === DELETE_STEP ? -k : k;
      }).immediate();
      total += Math.abs(step);
      if (step >= 0) break;
      await new Promise((r) => setImmediate(r));
      if (!this.handle) throw new Error('sqlite store closed during a delete');
    }
    total += this.db.transaction(() => {
      this.recordLeaving(this.windowDevices(window, cutSeq));
      const r = this.blankLines(window, cutSeq, (line) => line <= posLine(n));
      this.snapshot(window);
      return r.n;
    }).immediate();
    return total;
  }

  /** Deletes every reading of the window; returns how many. */
  async dropWindow(window: number): Promise<number> {
    return this.deleteWindow(window, SQLITE_MAX_POS);
  }

  /** Window starts holding readings, newest first. */
  async windowsNewest(): Promise<number[]> {
    return [...this.windows.keys()].sort((a, b) => b - a);
  }

  /**
   * Every reading of the device in the window. The chunks that hold one are found by their
   * `devices` column, without parsing other chunks' bodies; unreadable lines are left for
   * readWindow to quarantine.
   */
  async deviceWindowEntries(deviceId: string, window: number): Promise<DeviceEntry[]> {
    if (!this.windows.has(window) || !this.handle) return [];
    const out: DeviceEntry[] = [];
    const needle = deviceNeedle(deviceId);
    const mark = `,${JSON.stringify(deviceId)},`;
    let rows: { seq: number; body: Body }[];
    try {
      rows = this.db.prepare(`SELECT seq, body FROM ${windowTable(window)} WHERE instr(devices, ?) > 0 ORDER BY seq`).all(needle) as { seq: number; body: Body }[];
    } catch (err) {
      if (!this.windows.has(window)) return []; // dropped meanwhile
      throw err;
    }
    for (const row of rows) {
      for (const line of bodyLines(row.body)) {
        if (!line.includes(mark)) continue;
        const d = decodeLine(line);
        if (typeof d !== 'string' && d.device_id === deviceId) out.push({ id: d.id, received_at: d.received_at, doc: d.doc });
      }
    }
    return out;
  }

  /** A device's readings, newest first (device-pages.ts): the first `limit` of them. */
  async deviceReadings(deviceId: string, query: DeviceQuery): Promise<ReadingDoc[]> {
    return (await devicePage([{ windows: () => this.windowsNewest(), entries: (d, w) => this.deviceWindowEntries(d, w) }], deviceId, query)).readings;
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
    this.wal?.after().catch(() => undefined);
    this.opts.metrics?.recordsQuarantined.inc({ store: source });
    this.opts.log?.warn({ store: source, window, pos, reason }, 'unreadable record quarantined');
  }

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
