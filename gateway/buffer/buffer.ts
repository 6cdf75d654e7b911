import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Reading, ReadingDoc } from '../reading.ts';
import type { DeviceQuery, ReadingStore, StoreKind } from './store.ts';
import { SqliteStore } from './sqlite-store.ts';
import { RedisStore } from './redis-store.ts';
import { InDoubtLedger } from './in-doubt.ts';
import { ReentrantMutex } from './mutex.ts';
import { consolidateWindow, type ConsolidateResult } from './consolidate.ts';
import { runMaintenance, updateGauges, type MaintenanceReport, type RetentionContext, type StoredWindow } from './retention.ts';
import { mergeLatest, type LatestEntry } from './records.ts';
import { devicePage, type DevicePage, type DevicePageQuery, type DeviceSource } from './device-pages.ts';

export type { StoredWindow, MaintenanceReport, ConsolidateResult };

export interface BufferDeps {
  config: Pick<Config, 'redis' | 'sqlite' | 'buffer' | 'window_seconds'>;
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

  constructor(private readonly deps: BufferDeps) {
    const { config, log, metrics } = deps;
    this.windowMs = config.window_seconds * 1000;
    this.now = deps.now ?? Date.now;
    this.sqlite = new SqliteStore({ path: config.sqlite.path, groupCommitMs: config.sqlite.group_commit_ms, groupCommitMax: config.sqlite.group_commit_max, pageSize: config.sqlite.page_size, synchronous: config.sqlite.synchronous, latestEveryMs: config.sqlite.latest_every_ms, checkpointer: config.sqlite.checkpoint_worker ? {} : false, log, metrics });
    this.inDoubt = new InDoubtLedger(this.sqlite);
    if (config.redis.url !== 'none') {
      this.redis = new RedisStore({ url: config.redis.url, keyPrefix: config.redis.key_prefix, writeTimeoutMs: config.redis.write_timeout_ms, latestEveryMs: config.redis.latest_every_ms, sink: this.sqlite, log, metrics });
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
    this.opened = true;
    if (!this.redis) {
      log.warn({ sqlite: this.sqlite.path }, 'Redis is not configured (redis.url: none): buffering in SQLite only');
    } else {
      try {
        await this.redis.open();
        await this.redis.ping();
        await this.reconcileInDoubt();
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
  }

  /** Stops the timers, lets a running maintenance pass finish, flushes the group commit, quits Redis. */
  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    if (this.probeTimer) clearInterval(this.probeTimer);
    if (this.maintenanceTimer) clearInterval(this.maintenanceTimer);
    await this.maintenanceRun?.catch(() => undefined);
    await this.sqlite.close();
    await this.redis?.close();
  }

  /**
   * Makes the readings durable and resolves only then (rule 1): in Redis while healthy, else in
   * SQLite. Rejects only when no store could take them (SQLite itself failed).
   */
  async append(readings: Reading[]): Promise<AppendResult> {
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
    const run = this.exclusive(() => runMaintenance(this.retentionContext(), now));
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
