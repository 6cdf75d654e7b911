import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Reading, ReadingDoc } from '../reading.ts';
import type { DeviceQuery, ReadingStore, StoreKind } from './store.ts';
import { SqliteStore } from './sqlite-store.ts';
import { RedisStore } from './redis-store.ts';
import { InDoubtLedger } from './in-doubt.ts';
import { ReentrantMutex } from './mutex.ts';
import { AckedLedger, recordsWith } from './acked-ledger.ts';
import { consolidateWindow, type ConsolidateResult } from './consolidate.ts';
import { runMaintenance, updateGauges, type MaintenanceReport, type RetentionContext, type StoredWindow } from './retention.ts';
import { mergeLatest, type LatestEntry } from './records.ts';
import { devicePage, type DevicePage, type DevicePageQuery, type DeviceSource } from './device-pages.ts';

export type { StoredWindow, MaintenanceReport, ConsolidateResult };

export interface BufferDeps {
  /** `ingest.max_late_seconds` bounds the acknowledged-record (7 days when absent). */
  config: Pick<Config, 'redis' | 'sqlite' | 'buffer' | 'window_seconds'> & { ingest?: { max_late_seconds: number } };
  log: Logger;
  metrics: Metrics;
  /** Clock for maintenance decisions (tests move it); defaults to Date.now. */
  now?: () => number;
}

export interface AppendResult {
  /** Readings new to the store that took them. */
  stored: number;
  /** Readings that store already held (retried sends), acknowledged but stored once. */
  duplicates: number;
  store: StoreKind;
}

/** A write under way: retries of its readings wait for it (acked-ledger.ts, Buffer.append). */
interface InFlight {
  readings: Reading[];
  ids?: Set<string>;
  done: Promise<unknown>;
}

/** The (device_id, boot_id, seq) of a reading with a device-given id (`dev:`, validate.ts), or null. */
function ackKey(r: Reading): { boot: string; seq: number } | null {
  if (!r.id.startsWith('dev:')) return null;
  const boot = r.doc.boot_id;
  const seq = r.doc.seq;
  return typeof boot === 'string' && typeof seq === 'number' ? { boot, seq } : null;
}

/** Consecutive good health probes before intake goes back to Redis (one good PING is not a recovery). */
const PROBES_TO_RECOVER = 3;

/**
 * The gateway's buffer: where a reading is made durable (rule 1) and where the uploader finds it.
 *
 * - **Writes** (`append`) go to Redis while it is healthy. A Redis write that fails or takes
 *   longer than `redis.write_timeout_ms` marks Redis unhealthy and the SAME batch is written to
 *   SQLite, so the caller's promise always settles on a durable store and devices are never
 *   refused because of Redis (rule 2). A health probe every `redis.health_interval_ms` brings
 *   intake back after 3 consecutive good probes. Transitions are logged once each and counted in
 *   `iotgw_store_failovers_total{to}`; `iotgw_store_mode{store}` shows the current store.
 * - **Cross-store exactly-once**: a write that timed out may still be applied by a wedged Redis,
 *   so a reading can sit in both stores. Each store is idempotent by reading id, and a window
 *   held by both stores is `consolidate`d (Redis → SQLite, INSERT OR IGNORE) before it is
 *   uploaded, so it is uploaded once.
 * - **SQLite is always open**: fallback, outbox for spilled windows, quarantine (rules 4, 5).
 *   With `redis.url: none` it is the only store (rule 6).
 * - **Maintenance** (spill, age and byte bounds, gauges; retention.ts) runs every
 *   `buffer.maintenance_interval_ms` under the `exclusive` lock, which the uploader also takes
 *   for each window pass: whatever deletes readings is serialized. Intake appends never wait on it.
 * - **Reads** skip Redis while it is unhealthy (a paused Redis would otherwise stall the status
 *   page); its data is still there and shows again when it recovers.
 */
export class Buffer {
  readonly windowMs: number;
  private readonly sqlite: SqliteStore;
  private readonly redis: RedisStore | undefined;
  private current: StoreKind = 'sqlite';
  private goodProbes = 0;
  private probing = false;
  private probeTimer: NodeJS.Timeout | null = null;
  private maintenanceTimer: NodeJS.Timeout | null = null;
  private maintenanceRun: Promise<unknown> | null = null;
  private readonly lock = new ReentrantMutex();
  private readonly inDoubt: InDoubtLedger;
  private readonly now: () => number;
  private opened = false;
  /**
   * What was acknowledged, per (device_id, boot_id): the union of both stores' records and of the
   * writes that succeeded since. See README.md.
   */
  readonly acked = new AckedLedger();
  /** The seqs of writes under way (so a concurrent retry waits for them); never persisted. Unbounded in practice: it holds only in-flight readings. */
  private readonly pending = new AckedLedger({ maxBootsPerDevice: 1 << 20, maxIntervalsPerBoot: 1 << 20 });
  private readonly inflight = new Set<InFlight>();
  /** Devices whose record changed by a Redis write since it was last mirrored into SQLite. */
  private mirrorDirty = new Set<string>();
  private mirrorTimer: NodeJS.Timeout | null = null;
  private redisAckedLoaded = false;
  private evictionsReported = { boots: 0, intervals: 0 };

  constructor(private readonly deps: BufferDeps) {
    const { config, log, metrics } = deps;
    this.windowMs = config.window_seconds * 1000;
    this.now = deps.now ?? Date.now;
    const ackedRecords = this.recordsFor;
    this.sqlite = new SqliteStore({ path: config.sqlite.path, groupCommitMs: config.sqlite.group_commit_ms, groupCommitMax: config.sqlite.group_commit_max, pageSize: config.sqlite.page_size, synchronous: config.sqlite.synchronous, latestEveryMs: config.sqlite.latest_every_ms, checkpointer: config.sqlite.checkpoint_worker ? {} : false, ackedRecords, log, metrics });
    this.inDoubt = new InDoubtLedger(this.sqlite);
    if (config.redis.url !== 'none') {
      this.redis = new RedisStore({ url: config.redis.url, keyPrefix: config.redis.key_prefix, writeTimeoutMs: config.redis.write_timeout_ms, latestEveryMs: config.redis.latest_every_ms, sink: this.sqlite, ackedRecords, log, metrics });
    }
  }

  /** The store intake writes to now. */
  get mode(): StoreKind {
    return this.current;
  }

  /** The stores themselves, for the uploader (readWindow/deleteWindow) and `sqlite.db` / `sqlite.migrate` for its manifest. */
  get stores(): { sqlite: SqliteStore; redis?: RedisStore } {
    return this.redis ? { sqlite: this.sqlite, redis: this.redis } : { sqlite: this.sqlite };
  }

  /** The store of a `listWindows` entry. */
  store(kind: StoreKind): ReadingStore {
    if (kind === 'redis') {
      if (!this.redis) throw new Error('redis is not configured');
      return this.redis;
    }
    return this.sqlite;
  }

  /**
   * Opens SQLite (always) and Redis when configured. An unreachable Redis is not an error: the
   * buffer starts on SQLite with one warning and switches when the probe finds Redis healthy.
   */
  async open(): Promise<void> {
    const { config, log } = this.deps;
    await this.sqlite.open();
    this.inDoubt.open();
    this.loadAcked('sqlite', this.sqlite.ackedRecords().map((r) => [r.device_id, r.record]));
    this.opened = true;
    if (!this.redis) {
      log.warn({ sqlite: this.sqlite.path }, 'Redis is not configured (redis.url: none): buffering in SQLite only');
    } else {
      try {
        await this.redis.open();
        await this.redis.ping();
        await this.reconcileInDoubt();
        await this.loadRedisAcked();
        this.current = 'redis';
        log.info({ redis: maskUrl(config.redis.url) }, 'buffering in Redis, SQLite as fallback');
        await this.checkPersistence();
      } catch (err) {
        if (this.fallback) log.warn({ redis: maskUrl(config.redis.url), err: (err as Error).message, sqlite: this.sqlite.path }, 'Redis is not reachable: buffering in SQLite until it answers');
        else log.error({ redis: maskUrl(config.redis.url), err: (err as Error).message }, 'Redis is not reachable and redis.sqlite_fallback is off: intake answers 503 until it answers');
      }
      this.probeTimer = setInterval(() => void this.probe(), config.redis.health_interval_ms);
      this.probeTimer.unref();
    }
    this.setModeGauge();
    await this.refreshGauges().catch(() => undefined);
    this.maintenanceTimer = setInterval(() => void this.maintainInBackground(), config.buffer.maintenance_interval_ms);
    this.maintenanceTimer.unref();
    if (this.redis) {
      this.mirrorTimer = setInterval(() => this.mirrorAcked(), Math.max(100, config.sqlite.latest_every_ms || 1000));
      this.mirrorTimer.unref();
    }
  }

  /** Stops the timers, lets a running maintenance pass finish, flushes the group commit, quits Redis. */
  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    if (this.probeTimer) clearInterval(this.probeTimer);
    if (this.maintenanceTimer) clearInterval(this.maintenanceTimer);
    if (this.mirrorTimer) clearInterval(this.mirrorTimer);
    await this.maintenanceRun?.catch(() => undefined);
    await Promise.allSettled([...this.inflight].map((f) => f.done));
    this.mirrorAcked();
    await this.sqlite.close();
    await this.redis?.close();
  }

  /**
   * Makes the readings durable and resolves only then (rule 1): in Redis while healthy, else in
   * SQLite. Rejects only when no store could take them (SQLite itself failed).
   *
   * Exactly once per (device_id, boot_id, seq): a reading the acknowledged-record holds is
   * answered as a duplicate and not written again; one that a write under way holds waits for that
   * write and is then a duplicate (or, if it failed, written here). The store persists the durable
   * record plus this write's seqs in the same script/transaction (`recordsFor`); they join the
   * durable record in memory once the write succeeded.
   */
  async append(readings: Reading[]): Promise<AppendResult> {
    const added: Reading[] = [];
    const admitted = new Array<boolean>(readings.length);
    let known: number;
    for (;;) {
      const pass = this.admit(readings, added, admitted);
      if (typeof pass === 'number') {
        known = pass;
        break;
      }
      await pass.catch(() => undefined);
    }
    const fresh = known > 0 ? readings.filter((_, i) => admitted[i]) : readings;
    if (fresh.length === 0) return { stored: 0, duplicates: readings.length, store: this.current };
    let flight: InFlight | null = null;
    let settle: () => void = () => undefined;
    if (added.length > 0) {
      flight = { readings: added, done: new Promise<void>((r) => { settle = r; }) };
      this.inflight.add(flight);
    }
    try {
      const res = await this.write(fresh);
      if (added.length > 0) {
        const now = this.now();
        for (const r of added) {
          const k = ackKey(r)!;
          this.acked.add(r.device_id, k.boot, k.seq, now);
          if (res.store === 'redis') this.mirrorDirty.add(r.device_id);
        }
      }
      return { stored: res.stored, duplicates: known + res.duplicates, store: res.store };
    } finally {
      if (flight) {
        this.unpend(added);
        this.inflight.delete(flight);
        settle();
      }
    }
  }

  /**
   * One synchronous pass over the batch: readings the durable record holds are duplicates
   * (`admitted` false); one a write under way holds makes the pass undo itself and return that
   * write's promise, to wait for; a repeat within the batch is a duplicate. The others join
   * `pending` and are listed in `added`. Returns how many were duplicates.
   */
  private admit(readings: Reading[], added: Reading[], admitted: boolean[]): number | Promise<unknown> {
    const now = this.now();
    const flagged = this.acked.bootsEvicted + this.acked.intervalsEvicted > 0;
    let unverified = 0;
    let known = 0;
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i];
      const k = ackKey(r);
      if (k === null) {
        admitted[i] = true;
        continue;
      }
      if (this.acked.has(r.device_id, k.boot, k.seq)) {
        admitted[i] = false;
        known++;
        continue;
      }
      if (this.inflight.size + added.length > 0 && this.pending.has(r.device_id, k.boot, k.seq)) {
        const holder = this.inflight.size > 0 ? this.inFlightHolding(r.id) : undefined;
        if (holder) {
          this.unpend(added);
          return holder.done;
        }
        admitted[i] = false; // a repeat within this batch: its first copy is written with it
        known++;
        continue;
      }
      if (flagged && this.acked.isForgotten(r.device_id, k.boot, k.seq)) unverified++;
      this.pending.add(r.device_id, k.boot, k.seq, now);
      added.push(r);
      admitted[i] = true;
    }
    if (unverified > 0) this.deps.metrics.readingsUnverified.inc(unverified);
    return known;
  }

  /** Takes readings out of `pending` (their write settled, or the pass was undone). */
  private unpend(added: Reading[]): void {
    for (const r of added) {
      const k = ackKey(r)!;
      this.pending.remove(r.device_id, k.boot, k.seq);
    }
    added.length = 0;
  }

  /**
   * The records a store persists with one call or transaction (store.ts AckedRecordsFor): per
   * device of its keyed readings, the durable record plus these readings. Never the seqs of other
   * writes under way: one of those may still fail, and a persisted record must not claim a
   * reading no store took (a retry of it would be refused as a duplicate: a loss).
   */
  private readonly recordsFor = (appends: readonly (readonly Reading[])[], earlier?: readonly (readonly Reading[])[]): [string, string][] => {
    const keysOf = (lists: readonly (readonly Reading[])[]) => (visit: (deviceId: string, bootId: string, seq: number) => void): void => {
      for (const readings of lists) {
        for (const r of readings) {
          const k = ackKey(r);
          if (k !== null) visit(r.device_id, k.boot, k.seq);
        }
      }
    };
    return recordsWith(this.acked, keysOf(appends), this.now(), earlier && keysOf(earlier));
  };

  private inFlightHolding(id: string): InFlight | undefined {
    for (const f of this.inflight) {
      f.ids ??= new Set(f.readings.map((r) => r.id));
      if (f.ids.has(id)) return f;
    }
    return undefined;
  }

  /** The write itself: Redis while healthy, else SQLite (see the class comment). */
  private async write(readings: Reading[]): Promise<AppendResult> {
    if (this.redis && !this.fallback) {
      // No fallback configured: Redis or nothing, and the caller answers 503 on failure. While
      // Redis is known to be down, fail at once instead of waiting for a timeout per request.
      if (this.current !== 'redis') throw new Error('Redis is unavailable and redis.sqlite_fallback is off');
      try {
        const stored = await this.redis.append(readings);
        return { stored, duplicates: readings.length - stored, store: 'redis' };
      } catch (err) {
        this.markRedisDown(err);
        throw err;
      }
    }
    if (this.current === 'redis' && this.redis) {
      try {
        const stored = await this.redis.append(readings);
        return { stored, duplicates: readings.length - stored, store: 'redis' };
      } catch (err) {
        this.markRedisDown(err);
        const stored = await this.sqlite.append(readings);
        this.inDoubt.record(readings); // Redis may have applied the write anyway: see in-doubt.ts
        // The ledger must outlive a power cut as the reading does, or Redis's copy would be uploaded too.
        await this.sqlite.sync();
        return { stored, duplicates: readings.length - stored, store: 'sqlite' };
      }
    }
    const stored = await this.sqlite.append(readings);
    return { stored, duplicates: readings.length - stored, store: 'sqlite' };
  }

  /**
   * Writes the records that changed by Redis writes into SQLite (one transaction, every
   * `sqlite.latest_every_ms`, at a failover and at close): a gateway restarted while Redis is
   * down then knows what Redis acknowledged, but for the last interval before a crash.
   */
  private mirrorAcked(): void {
    if (this.mirrorDirty.size === 0) return;
    const devices = this.mirrorDirty;
    this.mirrorDirty = new Set();
    try {
      this.sqlite.writeAcked([...devices].map((d): [string, string] => [d, this.acked.serialize(d)]));
    } catch (err) {
      for (const d of devices) this.mirrorDirty.add(d);
      this.deps.log.warn({ err: (err as Error).message, devices: devices.size }, 'mirroring the acknowledged-record into SQLite failed; retrying on the next tick');
    }
  }

  /** Unites stored records with the one in memory; an unreadable one is logged and skipped (the store's readings dedup by id meanwhile). */
  private loadAcked(source: StoreKind, entries: Iterable<[string, string]>): void {
    let devices = 0;
    for (const [deviceId, record] of entries) {
      try {
        this.acked.merge(deviceId, record);
        devices++;
      } catch (err) {
        this.deps.log.warn({ store: source, device_id: deviceId, err: (err as Error).message }, 'unreadable acknowledged-record skipped');
      }
    }
    this.acked.forget(this.now() - this.maxLateMs);
    this.deps.metrics.ackedRecordDevices.set(this.acked.size);
    if (devices > 0) this.deps.log.info({ store: source, devices }, 'acknowledged-record loaded');
  }

  /** Redis's records, once per process, before intake switches to Redis (at open or at recovery). */
  private async loadRedisAcked(): Promise<void> {
    if (!this.redis || this.redisAckedLoaded) return;
    this.loadAcked('redis', Object.entries(await this.redis.ackedRecords()));
    this.redisAckedLoaded = true;
  }

  private get maxLateMs(): number {
    return (this.deps.config.ingest?.max_late_seconds ?? 7 * 86400) * 1000;
  }

  /**
   * Drops boots last acknowledged more than `ingest.max_late_seconds` ago, and the stored records
   * of devices left without any (maintenance runs it).
   */
  async forgetAcked(now = this.now()): Promise<number> {
    const before = new Set(this.acked.devices());
    // `pending` keeps a boot entry after its seqs left it; no write is under way for a minute.
    this.pending.forget(now - 60_000);
    const dropped = this.acked.forget(now - this.maxLateMs);
    if (dropped > 0) this.deps.metrics.ackedRecordEvictions.inc({ what: 'age' }, dropped);
    const { bootsEvicted, intervalsEvicted } = this.acked;
    if (bootsEvicted > this.evictionsReported.boots) this.deps.metrics.ackedRecordEvictions.inc({ what: 'boot' }, bootsEvicted - this.evictionsReported.boots);
    if (intervalsEvicted > this.evictionsReported.intervals) this.deps.metrics.ackedRecordEvictions.inc({ what: 'interval' }, intervalsEvicted - this.evictionsReported.intervals);
    this.evictionsReported = { boots: bootsEvicted, intervals: intervalsEvicted };
    this.deps.metrics.ackedRecordDevices.set(this.acked.size);
    if (dropped === 0) return 0;
    // Devices still there are rewritten by their next write; the gone ones lose their rows now.
    const gone = [...before].filter((d) => this.acked.serialize(d) === '');
    if (gone.length === 0) return dropped;
    const none = gone.map((d): [string, string] => [d, '']);
    this.sqlite.writeAcked(none);
    await this.fromRedis((r) => r.writeAcked(none), undefined);
    return dropped;
  }

  /** Resolves when a store can take writes (for /readyz): SQLite is always the fallback. */
  async ping(): Promise<void> {
    if (this.redis && !this.fallback) await this.redis.ping();
    else await this.sqlite.ping();
  }

  /**
   * `redis.sqlite_fallback` (default true). When false, a Redis failure is not hidden by SQLite:
   * `append` rejects (intake answers 503 and boards keep their readings) and `ping` follows Redis.
   */
  private get fallback(): boolean {
    return (this.deps.config.redis as { sqlite_fallback?: boolean }).sqlite_fallback !== false;
  }

  private markRedisDown(err: unknown): void {
    this.goodProbes = 0;
    if (this.current !== 'redis') return;
    this.current = 'sqlite';
    // What Redis acknowledged is in memory: into SQLite now, so a restart while Redis is away knows it.
    this.mirrorAcked();
    this.deps.metrics.storeFailovers.inc({ to: 'sqlite' });
    this.setModeGauge();
    if (this.fallback) this.deps.log.warn({ err: (err as Error)?.message }, 'Redis write failed or timed out: intake switched to SQLite');
    else this.deps.log.error({ err: (err as Error)?.message }, 'Redis write failed or timed out and redis.sqlite_fallback is off: intake answers 503');
  }

  private async probe(): Promise<void> {
    if (!this.redis || this.probing || !this.opened) return;
    this.probing = true;
    try {
      await this.redis.ping();
      if (this.current === 'sqlite' && ++this.goodProbes >= PROBES_TO_RECOVER) {
        await this.reconcileInDoubt();
        await this.loadRedisAcked();
        this.current = 'redis';
        this.goodProbes = 0;
        this.deps.metrics.storeFailovers.inc({ to: 'redis' });
        this.setModeGauge();
        this.deps.log.info('Redis is healthy again: intake switched back to Redis');
        await this.checkPersistence();
      }
    } catch (err) {
      this.markRedisDown(err);
    } finally {
      this.probing = false;
    }
  }

  /** Before Redis is read or written again: its copies of failed-over readings are marked dead (in-doubt.ts). */
  private async reconcileInDoubt(): Promise<void> {
    if (!this.redis || this.inDoubt.size === 0) return;
    const marked = await this.exclusive(() => this.inDoubt.reconcile(this.redis!));
    if (marked > 0) this.deps.log.info({ readings: marked }, 'Redis had applied writes it did not acknowledge; its copies are skipped, the SQLite copies count');
  }

  private persistenceChecked = false;

  /** Warns once when Redis does not persist what it acknowledges (appendonly off). */
  private async checkPersistence(): Promise<void> {
    if (this.persistenceChecked || !this.redis) return;
    this.persistenceChecked = true;
    if ((await this.redis.appendonly()) === false) {
      this.deps.log.warn('Redis runs with appendonly off: readings acknowledged from Redis are lost if Redis restarts (deploy/ enables appendonly)');
    }
  }

  private setModeGauge(): void {
    this.deps.metrics.storeMode.set({ store: 'redis' }, this.current === 'redis' ? 1 : 0);
    this.deps.metrics.storeMode.set({ store: 'sqlite' }, this.current === 'sqlite' ? 1 : 0);
  }

  /** Redis for reads, or undefined while it is unhealthy or not configured. */
  private get healthyRedis(): RedisStore | undefined {
    return this.current === 'redis' ? this.redis : undefined;
  }

  /** Reads Redis, tolerating a failure (logged at debug): the read API shows what SQLite has. */
  private async fromRedis<T>(fn: (r: RedisStore) => Promise<T>, fallback: T): Promise<T> {
    const redis = this.healthyRedis;
    if (!redis) return fallback;
    try {
      return await fn(redis);
    } catch (err) {
      this.deps.log.debug({ err: (err as Error).message }, 'redis read failed');
      return fallback;
    }
  }

  /** The latest reading of each device, merged over both stores (newest receive time wins). */
  async latestPerDevice(): Promise<ReadingDoc[]> {
    const lists: LatestEntry[][] = [await this.fromRedis((r) => r.latestEntries(), []), await this.sqlite.latestEntries()];
    return mergeLatest(lists);
  }

  /** A device's readings, newest first by receive time, merged over both stores, each once: the first page. */
  async deviceReadings(deviceId: string, query: DeviceQuery): Promise<ReadingDoc[]> {
    return (await this.deviceReadingsPage(deviceId, query)).readings;
  }

  /**
   * A device's buffered readings, complete and paged (device-pages.ts): every window of both
   * stores, each store answering a window from its own device index. Redis is read only while
   * healthy; a Redis read that fails fails the request rather than answering without its part.
   */
  async deviceReadingsPage(deviceId: string, query: DevicePageQuery): Promise<DevicePage> {
    const sources: DeviceSource[] = [{ windows: () => this.sqlite.windowsNewest(), entries: (d, w) => this.sqlite.deviceWindowEntries(d, w) }];
    const redis = this.healthyRedis;
    if (redis) sources.push({ windows: () => redis.windowsNewest(), entries: (d, w) => redis.deviceWindowEntries(d, w) });
    return devicePage(sources, deviceId, query);
  }

  /** Every window of both stores (open and closed), oldest first; a window may appear once per store. */
  async listWindows(): Promise<StoredWindow[]> {
    const redis = (await this.fromRedis((r) => r.listWindows(), [])).map((w) => ({ store: 'redis' as const, ...w }));
    const sqlite = (await this.sqlite.listWindows()).map((w) => ({ store: 'sqlite' as const, ...w }));
    return [...redis, ...sqlite].sort((a, b) => a.window - b.window || a.store.localeCompare(b.store));
  }

  /** A window is closed once its end has passed: no reading is filed into it by receive time any more. */
  isClosed(window: number, now = this.now()): boolean {
    return window + this.windowMs <= now;
  }

  /**
   * Runs `fn` holding the maintenance lock: the uploader's window passes, spill, consolidation and
   * drops are serialized; intake appends do not take it. Re-entrant (buffer methods that take it
   * may be called from inside). Keep passes short: do not hold it while backing off.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
  }

  /**
   * Moves a window from Redis into SQLite (exactly once, crash-safe; consolidate.ts). The uploader
   * calls it when a window is listed in both stores, then uploads it from SQLite. A no-op while
   * Redis is unhealthy or not configured.
   */
  consolidate(window: number): Promise<ConsolidateResult> {
    return this.exclusive(async () => {
      const redis = this.healthyRedis;
      if (!redis) return { copied: 0, added: 0, removed: 0 };
      return consolidateWindow(redis, this.sqlite, window);
    });
  }

  /** One maintenance pass now (spill, bounds, gauges), under the lock; the timer calls it too. */
  maintain(now = this.now()): Promise<MaintenanceReport> {
    const run = this.exclusive(async () => {
      await this.forgetAcked(now).catch((err: Error) => this.deps.log.warn({ err: err.message }, 'pruning the acknowledged-record failed; retrying on the next pass'));
      return runMaintenance(this.retentionContext(), now);
    });
    this.maintenanceRun = run;
    return run;
  }

  private retentionContext(): RetentionContext {
    const redis = this.healthyRedis;
    return {
      config: this.deps.config,
      log: this.deps.log,
      metrics: this.deps.metrics,
      stores: redis ? { sqlite: this.sqlite, redis } : { sqlite: this.sqlite },
      listWindows: () => this.listWindows(),
      consolidate: (w) => this.consolidate(w),
    };
  }

  private async maintainInBackground(): Promise<void> {
    if (this.maintenanceRun && this.lock.locked) return; // the previous pass (or an upload) still runs
    try {
      await this.maintain();
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'buffer maintenance failed; retrying on the next tick');
    }
  }

  /** Refreshes the buffer gauges without maintenance (the uploader may call it after a pass). */
  refreshGauges(): Promise<void> {
    return updateGauges(this.retentionContext());
  }
}

/** Hides a password in a redis URL for logs. */
export function maskUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

export { Buffer as ReadingBuffer };
