import { devicePage } from './device-pages.ts';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Reading, ReadingDoc, StoredReading } from '../reading.ts';
import type { AckedRecordsFor, DeviceQuery, QuarantineSink, ReadingStore, StoreKind, WindowPage, WindowSummary } from './store.ts';
import { parseReading, type DeviceEntry, type LatestEntry } from './records.ts';
import { buildAppendCall, decodeElement, elementRecords, latestOnlyCall, type BadEntry } from './redis-chunks.ts';
import { LatestThrottle, withWaiting, type LatestCandidate } from './latest-throttle.ts';
import { APPEND_LUA, checkPos, DELETE_LUA, MARK_DEAD_LUA, QUARANTINE_LUA, READ_LUA } from './redis-scripts.ts';
import { MIGRATE_LUA, migrateLegacyStreams } from './redis-migrate.ts';

export interface RedisStoreOptions {
  /** redis://, rediss:// or unix:///path/to/socket */
  url: string;
  keyPrefix?: string;
  /** Bound on an append and on the health probe (`redis.write_timeout_ms`). */
  writeTimeoutMs?: number;
  /** Bound on reads, deletes and connecting. */
  opTimeoutMs?: number;
  /** Where unreadable list elements go (the SQLite store). */
  sink?: QuarantineSink;
  /** A device's `latest` entry is rewritten at most this often (latest-throttle.ts); 0: every reading. */
  latestEveryMs?: number;
  /** The acknowledged-records written by the same script as the readings (store.ts, acked-ledger.ts). */
  ackedRecords?: AckedRecordsFor;
  log?: Logger;
  metrics?: Metrics;
}

type ScriptClient = Redis & {
  iotgwAppend(...args: (string | Buffer)[]): Promise<number[][]>;
  iotgwDelete(...args: string[]): Promise<[number, number]>;
  iotgwMarkDead(...args: string[]): Promise<number>;
  iotgwRead(...args: string[]): Promise<[gen: string, first: number, items: string[], more: number]>;
  iotgwQuarantine(...args: string[]): Promise<number>;
  iotgwMigrate(...args: string[]): Promise<number>;
};

interface QueuedAppend {
  readings: Reading[];
  resolve: (fresh: number) => void;
  reject: (err: unknown) => void;
}

/** Bound on one shared append call, so one Lua run never blocks Redis for long. */
const MAX_READINGS_PER_CALL = 2000;

/** Readings removed per delete-script call (whole elements, at least one): about a millisecond of Redis time. */
const DELETE_STEP = 10_000;

export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * Bounds `p` by `ms`. When the timer fires, the answer may already sit unread in the socket: a
 * busy event loop runs due timers before it polls for I/O, so under load a healthy Redis would
 * lose the race and intake would fail over for nothing (F7 in BENCHMARKS.md). The timeout is
 * therefore declared from a setImmediate, which runs after that iteration's I/O poll: an answer
 * that had arrived in time wins.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  let late: NodeJS.Immediate | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { late = setImmediate(() => reject(new TimeoutError(what, ms))); }, ms);
  });
  return Promise.race([p, t]).finally(() => {
    clearTimeout(timer);
    if (late) clearImmediate(late);
  });
}

/**
 * The Redis buffer (layout in redis-scripts.ts). Fails fast while Redis is down: no offline
 * queue, one retry per request, every call bounded by a timeout, reconnecting in the background
 * with a short backoff, so the failover layer learns within `writeTimeoutMs` that it must write to
 * SQLite instead. A command that timed out may still be applied later by a wedged Redis; the
 * failover layer's consolidation makes that harmless (see buffer.ts).
 */
export class RedisStore implements ReadingStore {
  readonly kind: StoreKind = 'redis';
  private client: ScriptClient | null = null;
  private readonly p: string;
  private readonly writeTimeoutMs: number;
  private readonly opTimeoutMs: number;
  private queued: QueuedAppend[] = [];
  private queuedReadings = 0;
  private flushScheduled = false;
  private readonly latest: LatestThrottle;
  /** False until the legacy stream layout has been looked for (and moved): see redis-migrate.ts. */
  private migrated = false;

  constructor(private readonly opts: RedisStoreOptions) {
    this.p = opts.keyPrefix ?? 'iotgw:';
    this.writeTimeoutMs = opts.writeTimeoutMs ?? 500;
    this.opTimeoutMs = opts.opTimeoutMs ?? Math.max(5000, this.writeTimeoutMs * 10);
    this.latest = new LatestThrottle(opts.latestEveryMs ?? 1000, Date.now, (due) => this.writeLatest(due).catch((err: Error) => {
      this.opts.log?.debug({ err: err.message }, 'latest view update failed; the next reading of each device repairs it');
    }));
  }

  get prefix(): string {
    return this.p;
  }

  /** True while the connection is up (not a promise that writes succeed: see `ping`). */
  get connected(): boolean {
    return this.client?.status === 'ready';
  }

  private get redis(): ScriptClient {
    if (!this.client) throw new Error('redis store is not open');
    return this.client;
  }

  /** Connects; rejects when Redis does not answer in time, but keeps reconnecting in the background. */
  async open(): Promise<void> {
    if (this.client) return;
    const base: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      // Off: appends already share one call per tick (append()), and auto-pipelining wraps every
      // command in a Pipeline of its own, which doubled the client's CPU per call (BENCHMARKS.md).
      enableAutoPipelining: false,
      maxRetriesPerRequest: 1,
      connectTimeout: this.opTimeoutMs,
      retryStrategy: (times) => Math.min(50 * times, 1000),
      reconnectOnError: () => false,
    };
    const m = /^unix:\/\/(.+)$/.exec(this.opts.url);
    const client = (m ? new Redis({ ...base, path: m[1] }) : new Redis(this.opts.url, base)) as ScriptClient;
    client.defineCommand('iotgwAppend', { numberOfKeys: 0, lua: APPEND_LUA });
    client.defineCommand('iotgwDelete', { numberOfKeys: 0, lua: DELETE_LUA });
    client.defineCommand('iotgwMarkDead', { numberOfKeys: 0, lua: MARK_DEAD_LUA });
    client.defineCommand('iotgwRead', { numberOfKeys: 0, lua: READ_LUA });
    client.defineCommand('iotgwQuarantine', { numberOfKeys: 0, lua: QUARANTINE_LUA });
    client.defineCommand('iotgwMigrate', { numberOfKeys: 0, lua: MIGRATE_LUA });
    // Errors surface through the rejected commands; the failover layer logs transitions once.
    client.on('error', (err) => this.opts.log?.debug({ err: err.message }, 'redis connection error'));
    this.client = client;
    // On failure the client goes on reconnecting in the background; ping() tells when it is back.
    await withTimeout(client.connect(), Math.min(this.opTimeoutMs, 2000), 'redis connect');
    await this.migrateLegacy();
  }

  /**
   * Moves windows left in the old stream layout into lists, once. Open does it; when Redis was
   * unreachable then, `ping` does it before the failover layer may switch intake back to Redis.
   */
  private async migrateLegacy(): Promise<void> {
    if (this.migrated) return;
    await migrateLegacyStreams(this.redis, this.p, (p, what) => this.op(p, what), this.opts.log);
    this.migrated = true;
  }

  /**
   * Whether Redis persists what it acknowledged (rule 1 counts on appendonly, as deploy/
   * configures it). Null when it cannot tell (CONFIG renamed or disabled).
   */
  async appendonly(): Promise<boolean | null> {
    try {
      const res = (await this.op(this.redis.config('GET', 'appendonly'), 'redis config')) as string[];
      return res[1] === undefined ? null : res[1] === 'yes';
    } catch {
      return null;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    if (!client) return;
    // The views still waiting are written before the connection goes (best effort: the readings
    // are stored already).
    const waiting = this.latest.drain();
    if (waiting.length > 0 && client.status === 'ready') await this.writeLatest(waiting).catch(() => undefined);
    this.client = null;
    try {
      if (client.status === 'ready') await withTimeout(client.quit(), 1000, 'redis quit');
    } catch { /* fall through */ }
    client.disconnect();
  }

  private list(window: number | string): string {
    return `${this.p}l:${window}`;
  }

  /**
   * Durable (appendonly) once resolved; returns how many readings were new. Appends made in the
   * same event-loop tick share ONE Lua call (dedup by id, RPUSH, latest, window registration,
   * atomically): under load that is one Redis round trip for many requests instead of one each.
   */
  append(readings: Reading[]): Promise<number> {
    if (readings.length === 0) return Promise.resolve(0);
    return new Promise((resolve, reject) => {
      this.queued.push({ readings, resolve, reject });
      this.queuedReadings += readings.length;
      if (this.queuedReadings >= MAX_READINGS_PER_CALL) this.flushAppends();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flushAppends());
      }
    });
  }

  private flushAppends(): void {
    this.flushScheduled = false;
    const callers = this.queued;
    this.queued = [];
    this.queuedReadings = 0;
    if (callers.length > 0) void this.appendNow(callers);
  }

  private async appendNow(callers: QueuedAppend[]): Promise<void> {
    // The records carry this call's readings only, not those of earlier calls still unanswered:
    // Redis runs a connection's scripts in order, but an earlier call can fail without being
    // applied (never sent while the connection was down, an error reply) while a later one is, and
    // a record claiming its readings would make their retry a duplicate, a loss. So a record may
    // lag an overlapping earlier call until the device's next write (buffer/README.md).
    const call = buildAppendCall(this.p, callers, (c) => this.latest.take(c), this.opts.ackedRecords);
    // The lines are in the encoded chunks now; dropped here so ~0.5 KB per reading does not
    // outlive the round trip (young objects that live through two scavenges get promoted).
    for (const c of call.chunks) c.lines.length = 0;
    const started = process.hrtime.bigint();
    try {
      const held = await withTimeout(this.redis.iotgwAppend(...call.args), this.writeTimeoutMs, 'redis append');
      this.opts.metrics?.storeWriteSeconds.observe({ store: 'redis' }, Number(process.hrtime.bigint() - started) / 1e9);
      call.chunks.forEach((c, k) => { for (const line of held[k] ?? []) call.fresh[c.owners[Number(line)]]--; });
      callers.forEach((c, k) => c.resolve(call.fresh[k]));
      this.latest.armTrailing();
    } catch (err) {
      // Each caller fails over on its own (the buffer writes its readings to SQLite).
      for (const c of callers) c.reject(err);
    }
  }

  private async writeLatest(entries: LatestCandidate[]): Promise<void> {
    await withTimeout(this.redis.iotgwAppend(...latestOnlyCall(this.p, entries)), this.writeTimeoutMs, 'redis latest');
  }

  /** Every device's stored acknowledged-record (acked-ledger.ts). */
  async ackedRecords(): Promise<Record<string, string>> {
    return this.op(this.redis.hgetall(`${this.p}acked`), 'redis acked');
  }

  /** Rewrites the acknowledged-records of these devices ('' deletes one): the pruning of forgotten devices. */
  async writeAcked(records: Iterable<[string, string]>): Promise<void> {
    const put: string[] = [];
    const del: string[] = [];
    for (const [d, rec] of records) {
      if (rec === '') del.push(d);
      else put.push(d, rec);
    }
    const pipe = this.redis.pipeline();
    for (let i = 0; i < put.length; i += 2000) pipe.hset(`${this.p}acked`, ...put.slice(i, i + 2000));
    for (let i = 0; i < del.length; i += 1000) pipe.hdel(`${this.p}acked`, ...del.slice(i, i + 1000));
    if (put.length + del.length === 0) return;
    for (const [err] of (await this.op(pipe.exec(), 'redis acked')) ?? []) if (err) throw err;
  }

  private op<T>(p: Promise<T>, what: string): Promise<T> {
    return withTimeout(p, this.opTimeoutMs, what);
  }

  async latestPerDevice(): Promise<ReadingDoc[]> {
    return (await this.latestEntries()).map((e) => e.doc);
  }

  /** With the entries whose write waits (latest-throttle.ts), so the view shows the newest reading at once. */
  async latestEntries(): Promise<LatestEntry[]> {
    const all = await this.op(this.redis.hgetall(`${this.p}latest`), 'redis latest');
    const entry = (device: string, raw: string): LatestEntry[] => {
      const r = parseReading(raw, 0);
      if (typeof r !== 'string') return [{ device_id: r.device_id, received_at: r.received_at, doc: r.doc }];
      this.opts.log?.warn({ device_id: device, reason: r }, 'unreadable latest reading in redis skipped');
      return [];
    };
    return withWaiting(
      Object.entries(all).flatMap(([device, raw]) => entry(device, raw)),
      [...this.latest.waitingEntries()].flatMap((c) => entry(c.device, c.json)),
    );
  }

  /**
   * Windows with their reading counts: elements minus tombstones plus the chunks' extra readings
   * (redis-scripts.ts), exact through quarantines without reading any element.
   */
  async listWindows(): Promise<WindowSummary[]> {
    const windows = await this.op(this.redis.zrange(`${this.p}windows`, 0, -1), 'redis windows');
    if (windows.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const w of windows) pipe.llen(this.list(w)).zcard(`${this.p}tomb:${w}`).hget(`${this.p}wextra`, w).hget(`${this.p}wbytes`, w);
    const res = (await this.op(pipe.exec(), 'redis window sizes')) ?? [];
    const out: WindowSummary[] = [];
    for (let i = 0; i < windows.length; i++) {
      const [[e1, len], [e2, tombs], [e3, extra], [e4, bytes]] = [0, 1, 2, 3].map((k) => res[4 * i + k] ?? []);
      if (e1 || e2 || e3 || e4) throw e1 ?? e2 ?? e3 ?? e4;
      const count = Number(len) - Number(tombs) + Number(extra ?? 0);
      if (count <= 0) { await this.cleanupIfEmpty(Number(windows[i])); continue; }
      out.push({ window: Number(windows[i]), count, bytes: Number(bytes ?? 0) });
    }
    return out;
  }

  /** Removes the window's keys if it holds no reading (atomic: a concurrent append wins). */
  private async cleanupIfEmpty(window: number): Promise<void> {
    await this.trim(window, 'none');
  }

  /**
   * A window's readings in list order after `after` (exclusive), whole elements at a time (a
   * page may pass `limit` by the rest of a chunk). Unreadable records are handed to the
   * quarantine sink and blanked (skipped from then on); a page is empty only when the window is
   * done. `next` names the page's last element, so the next page starts after it.
   */
  async readWindow(window: number, after: string | null, limit: number): Promise<WindowPage> {
    let cursor = after === null ? '' : checkPos(after);
    // Almost always empty; when not, it names readings whose SQLite twin is the copy to upload.
    const dead = new Set(await this.op(this.redis.smembers(`${this.p}dead:${window}`), 'redis read'));
    for (;;) {
      const [gen, first, items, more] = await this.op(this.redis.iotgwRead(this.p, String(window), cursor, String(limit)), 'redis read');
      // After a line position the page starts at that line's chunk again: skip the lines read.
      const resume = /^(\d+)-(\d+)-(\d+)$/.exec(cursor);
      const skipThrough = resume && resume[1] === gen && Number(resume[2]) === first ? Number(resume[3]) : -1;
      const readings: StoredReading[] = [];
      const bad: BadEntry[] = [];
      for (let k = 0; k < items.length; k++) decodeElement(items[k], gen, first + k, window, dead, readings, bad, k === 0 ? skipThrough : -1);
      if (bad.length > 0) {
        await this.quarantine(window, gen, bad);
        if (!more && readings.length === 0) await this.cleanupIfEmpty(window);
      }
      const last = items.length > 0 ? `${gen}-${first + items.length - 1}` : cursor;
      if (readings.length > 0 || !more) return { readings, next: more ? last : null };
      cursor = last;
    }
  }

  private async quarantine(window: number, gen: string, bad: BadEntry[]): Promise<void> {
    const args: string[] = [];
    for (const { abs, line, raw, reason } of bad) {
      const pos = line === null ? `${gen}-${abs}` : `${gen}-${abs}-${line}`;
      if (this.opts.sink) this.opts.sink.quarantine('redis', window, pos, raw, reason);
      else {
        this.opts.metrics?.recordsQuarantined.inc({ store: 'redis' });
        this.opts.log?.warn({ window, pos, reason, raw: raw.slice(0, 200) }, 'unreadable redis record dropped (no quarantine sink)');
      }
      args.push(String(abs), line === null ? '' : String(line));
    }
    await this.op(this.redis.iotgwQuarantine(this.p, String(window), gen, ...args), 'redis quarantine');
  }

  /** Marks the window's readings with these ids as dead (skipped by reads); returns how many it held. */
  async markDead(window: number, ids: string[]): Promise<number> {
    let marked = 0;
    for (let i = 0; i < ids.length; i += 1000) {
      marked += Number(await this.op(this.redis.iotgwMarkDead(this.p, String(window), ...ids.slice(i, i + 1000)), 'redis mark dead'));
    }
    return marked;
  }

  /** Deletes readings with pos <= upTo, with the window's bookkeeping; returns how many. */
  async deleteWindow(window: number, upTo: string): Promise<number> {
    return this.trim(window, checkPos(upTo));
  }

  /** Deletes the whole window; returns how many readings it held. */
  async dropWindow(window: number): Promise<number> {
    return this.trim(window, '');
  }

  /** Runs the delete script in bounded steps (see DELETE_LUA); appends interleave between steps. */
  private async trim(window: number, upTo: string): Promise<number> {
    let total = 0;
    for (;;) {
      const [deleted, done] = await this.op(this.redis.iotgwDelete(this.p, String(window), upTo, String(DELETE_STEP)), 'redis delete');
      total += Number(deleted);
      if (Number(done) === 1) return total;
    }
  }

  /** A device's readings, newest first, complete (device-pages.ts): the first `limit`. */
  async deviceReadings(deviceId: string, query: DeviceQuery): Promise<ReadingDoc[]> {
    return (await devicePage([{ windows: () => this.windowsNewest(), entries: (d, w) => this.deviceWindowEntries(d, w) }], deviceId, query)).readings;
  }

  /** Window starts holding readings, newest first. */
  async windowsNewest(): Promise<number[]> {
    return (await this.op(this.redis.zrevrange(`${this.p}windows`, 0, -1), 'redis windows')).map(Number);
  }

  /**
   * Every reading of the device in the window: the whole list in steps of elements, each element
   * tested for the device before it is parsed (a chunk names each reading's device). Complete, at
   * the cost of reading the window once per request (the device readings API is rare next to
   * intake; no per-device key is written per reading, which would cost redis-server and its AOF).
   */
  async deviceWindowEntries(deviceId: string, window: number): Promise<DeviceEntry[]> {
    const needle = `"device_id":${JSON.stringify(deviceId)}`;
    const dead = new Set(await this.op(this.redis.smembers(`${this.p}dead:${window}`), 'redis device scan'));
    const len = await this.op(this.redis.llen(this.list(window)), 'redis device scan');
    const out: DeviceEntry[] = [];
    const step = 200;
    for (let start = 0; start < len; start += step) {
      const items = await this.op(this.redis.lrange(this.list(window), start, Math.min(len, start + step) - 1), 'redis device scan');
      for (const item of items) {
        if (!item.includes(needle)) continue;
        for (const rec of elementRecords(item)) {
          if (!rec.includes(needle)) continue;
          const r = parseReading(rec, window);
          if (typeof r === 'string' || r.device_id !== deviceId || dead.has(r.id)) continue;
          out.push({ id: r.id, received_at: r.received_at, doc: r.doc });
        }
      }
    }
    return out;
  }

  /** A small write (it expires), so a Redis that answers PING but refuses writes (OOM, MISCONF, replica) fails too. */
  async ping(): Promise<void> {
    await this.migrateLegacy();
    await withTimeout(this.redis.set(`${this.p}health`, String(Date.now()), 'PX', 60_000), this.writeTimeoutMs, 'redis ping');
  }
}
