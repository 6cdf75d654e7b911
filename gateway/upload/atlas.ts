import { MongoClient, type Collection, type Db, type IndexDescription } from 'mongodb';
import type { Logger } from '../log.ts';
import { classify, type UploadFailure } from './errors.ts';
import type { PartDoc } from './parts.ts';
import type { DeviceGroupDoc } from './device-groups.ts';

export interface AtlasOptions {
  uri: string | null;
  database: string;
  connectTimeoutMs: number;
  serverSelectionTimeoutMs: number;
  /** The socket timeout to start with (`mongodb.socket_timeout_ms`); `setSocketTimeout` raises it. */
  socketTimeoutMs?: number;
  log: Logger;
  appName?: string;
}

/** The indexes every gateway asks for, per collection (see docs/atlas.md, "Indexes"). */
export const INDEXES: Record<'group_hours' | 'device_groups', IndexDescription[]> = {
  group_hours: [
    { key: { group_id: 1, hour: 1 }, name: 'group_id_1_hour_1' },
    { key: { 'readings.device_id': 1, hour: 1 }, name: 'readings.device_id_1_hour_1' },
    { key: { gateway_id: 1, hour: 1 }, name: 'gateway_id_1_hour_1' },
    // The duplicate check before each write (duplicate-guard.ts): which parts hold a reading id.
    { key: { 'rid_ranges.k': 1, 'rid_ranges.hi': 1 }, name: 'rid_ranges.k_1_rid_ranges.hi_1' },
  ],
  device_groups: [{ key: { group_id: 1 }, unique: true, name: 'group_id_1' }],
};

export type AtlasState = 'disabled' | 'idle' | 'connecting' | 'up' | 'down';

/**
 * The connection to Atlas, its collections and indexes. **Atlas never blocks the gateway:**
 * `start()` returns at once and connects in the background; nothing waits on it except an upload
 * pass (`ready()`, bounded by the server-selection and connect timeouts) and the `/groups` routes.
 * A URI whose DNS name does not resolve, a refused port or a wrong password ends in a `down` state
 * and a one-line reason in `lastError`; the next `ready()` tries again with a fresh client.
 *
 * Indexes (INDEXES) are created in the background after each connect, and nothing waits for
 * them: on a large collection a build can outlast any timeout, and the uploads do not need them.
 * One that cannot be created (an index of the same name built differently by hand, legacy
 * `device_groups` with duplicate `group_id`s under the unique index: 11000, a user without the
 * role) is logged once with its reason and the others are still created; uploads go on.
 *
 * The socket timeout is the client's (driver 7.9 ignores a per-operation `timeoutMS`): the
 * uploader raises it with `setSocketTimeout` when the measured uplink needs more time per part,
 * and the next `ready()` reconnects with it.
 */
export class AtlasClient {
  state: AtlasState;
  lastError: UploadFailure | null = null;
  private client: MongoClient | null = null;
  private db: Db | null = null;
  private connecting: Promise<Db> | null = null;
  private stopped = false;
  private socketTimeoutMs: number;
  private clientSocketTimeoutMs = 0;
  /** Index problems already logged (each once per process). */
  private readonly indexWarnings = new Set<string>();
  /** The background index creation under way, if any; `indexesDone` once it ran without a transient failure. */
  private indexing: Promise<void> | null = null;
  private indexesDone = false;

  constructor(private readonly opts: AtlasOptions) {
    this.state = opts.uri ? 'idle' : 'disabled';
    this.socketTimeoutMs = opts.socketTimeoutMs ?? 60_000;
  }

  /**
   * Asks for a socket timeout of at least `ms`. A client whose timeout is far from it (under it,
   * or more than twice it) is replaced at the next `ready()`, between passes.
   */
  setSocketTimeout(ms: number): void {
    this.socketTimeoutMs = Math.max(this.opts.socketTimeoutMs ?? 60_000, Math.ceil(ms));
  }

  /** The socket timeout the current client runs with (0: none connected). */
  get currentSocketTimeoutMs(): number {
    return this.clientSocketTimeoutMs;
  }

  private get timeoutStale(): boolean {
    const have = this.clientSocketTimeoutMs;
    return have < this.socketTimeoutMs || have > 2 * this.socketTimeoutMs;
  }

  get configured(): boolean {
    return this.opts.uri !== null;
  }

  /** Begins connecting in the background; never throws, never waits. */
  start(): void {
    if (!this.configured || this.stopped) return;
    this.ready().catch(() => { /* state and lastError say it; the uploader logs */ });
  }

  /**
   * The database, connected (its indexes are created in the background); rejects within the
   * configured timeouts when Atlas is unreachable. With `applyTimeout` (the uploader, between
   * passes, when nothing of its own is in flight) a client whose socket timeout no longer fits
   * (setSocketTimeout) is replaced first.
   */
  ready(opts: { applyTimeout?: boolean } = {}): Promise<Db> {
    if (!this.opts.uri) return Promise.reject(new Error('mongodb.uri is not configured'));
    if (this.stopped) return Promise.reject(new Error('the Atlas client is stopped'));
    const replace = opts.applyTimeout === true && this.db !== null && this.timeoutStale;
    if (this.db && this.state === 'up' && !replace) {
      this.startIndexes(this.db);
      return Promise.resolve(this.db);
    }
    if (!this.connecting) {
      if (replace) this.opts.log.info({ socket_timeout_ms: this.socketTimeoutMs, was: this.clientSocketTimeoutMs }, 'reconnecting to Atlas with the socket timeout the measured uplink needs');
      const attempt = this.db && !replace ? this.recheck(this.db) : this.connect(this.opts.uri);
      this.connecting = attempt.finally(() => { this.connecting = null; });
    }
    return this.connecting;
  }

  /** Connected once, then an operation failed: ask the existing client (it reconnects by itself). */
  private async recheck(db: Db): Promise<Db> {
    try {
      await db.command({ ping: 1 });
      this.markUp();
      return db;
    } catch (err) {
      this.markDown(err);
      throw err;
    }
  }

  private async connect(uri: string): Promise<Db> {
    this.state = 'connecting';
    await this.closeClient();
    const socketTimeoutMS = this.socketTimeoutMs;
    const client = new MongoClient(uri, {
      connectTimeoutMS: this.opts.connectTimeoutMs,
      serverSelectionTimeoutMS: this.opts.serverSelectionTimeoutMs,
      socketTimeoutMS,
      appName: this.opts.appName ?? 'iotgw',
      // Every write says w: majority itself; this is the default for anything that does not.
      writeConcern: { w: 'majority' },
    });
    this.client = client;
    try {
      await client.connect();
      const db = client.db(this.opts.database);
      if (this.stopped) throw new Error('the Atlas client is stopped');
      this.db = db;
      this.clientSocketTimeoutMs = socketTimeoutMS;
      this.state = 'up';
      this.lastError = null;
      this.startIndexes(db);
      // After a successful connect the driver reconnects by itself; an operation that fails
      // reports through markDown() so /groups and /stats show it.
      return db;
    } catch (err) {
      this.markDown(err);
      await this.closeClient();
      throw err;
    }
  }

  /** Starts the background index creation unless it is done or under way. */
  private startIndexes(db: Db): void {
    if (this.indexesDone || this.indexing) return;
    this.indexing = this.ensureIndexes(db).finally(() => { this.indexing = null; });
  }

  /** Resolves once the background index creation under way (if any) has finished (for tests). */
  indexesSettled(): Promise<void> {
    return this.indexing ?? Promise.resolve();
  }

  /** Creates INDEXES, each collection's in one call, then one by one if that call was refused. Never throws. */
  private async ensureIndexes(db: Db): Promise<void> {
    for (const [name, specs] of Object.entries(INDEXES)) {
      const coll = db.collection(name);
      try {
        await coll.createIndexes(specs);
        continue;
      } catch (err) {
        if (classify(err).kind === 'transient') return this.indexProblem('the Atlas indexes are not created yet; the next connect tries again', err);
      }
      // createIndexes creates all or none: the ones that can be made still are.
      for (const spec of specs) {
        try {
          await coll.createIndexes([spec]);
        } catch (err) {
          if (classify(err).kind === 'transient') return this.indexProblem('the Atlas indexes are not created yet; the next connect tries again', err);
          this.indexProblem(`could not create the Atlas index ${name}.${spec.name}; uploads continue, queries it serves may be slow`, err);
        }
      }
    }
    this.indexesDone = true;
  }

  private indexProblem(what: string, err: unknown): void {
    if (this.stopped) return; // closing the client ends a build in flight; nothing to report
    const f = classify(err);
    if (this.indexWarnings.has(`${what}|${f.reason}`)) return;
    this.indexWarnings.add(`${what}|${f.reason}`);
    this.opts.log.warn({ code: f.code, reason: f.reason }, what);
  }

  markDown(err: unknown): void {
    this.lastError = classify(err);
    if (this.lastError.kind === 'transient' || this.state !== 'up') this.state = 'down';
  }

  /** Marks the connection healthy again after an operation succeeded. */
  markUp(): void {
    if (this.db) { this.state = 'up'; this.lastError = null; }
  }

  async groupHours(): Promise<Collection<PartDoc>> {
    return (await this.ready()).collection<PartDoc>('group_hours');
  }

  async deviceGroups(): Promise<Collection<DeviceGroupDoc>> {
    return (await this.ready()).collection<DeviceGroupDoc>('device_groups');
  }

  /**
   * The database handle once a connect has succeeded (the driver reconnects it by itself), else
   * null; for the read routes, which must answer quickly and never wait for a first connect.
   */
  get currentDb(): Db | null {
    return this.db;
  }

  private async closeClient(): Promise<void> {
    const c = this.client;
    this.client = null;
    this.db = null;
    this.clientSocketTimeoutMs = 0;
    if (c) await c.close(true).catch(() => {});
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.closeClient();
    this.state = this.configured ? 'idle' : 'disabled';
  }
}
