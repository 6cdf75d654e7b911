import { MongoClient, type Collection, type Db } from 'mongodb';
import type { Logger } from '../log.ts';
import { classify, type UploadFailure } from './errors.ts';
import type { PartDoc } from './parts.ts';
import type { DeviceGroupDoc } from './device-groups.ts';

export interface AtlasOptions {
  uri: string | null;
  database: string;
  connectTimeoutMs: number;
  serverSelectionTimeoutMs: number;
  log: Logger;
  appName?: string;
}

export type AtlasState = 'disabled' | 'idle' | 'connecting' | 'up' | 'down';

/**
 * The connection to Atlas, its collections and indexes. **Atlas never blocks the gateway:**
 * `start()` returns at once and connects in the background; nothing waits on it except an upload
 * pass (`ready()`, bounded by the server-selection and connect timeouts) and the `/groups` routes.
 * A URI whose DNS name does not resolve, a refused port or a wrong password ends in a `down` state
 * and a one-line reason in `lastError`; the next `ready()` tries again with a fresh client.
 *
 * Indexes are created after each successful connect (`createIndexes` is idempotent):
 * - group_hours `{group_id: 1, hour: 1}`: "group X between t1 and t2"
 * - group_hours `{"readings.device_id": 1, hour: 1}`: "device Y between t1 and t2"
 * - group_hours `{gateway_id: 1, hour: 1}`: what one site sent
 * - device_groups `{group_id: 1}` unique (the original API's index, same name `group_id_1`)
 */
export class AtlasClient {
  state: AtlasState;
  lastError: UploadFailure | null = null;
  private client: MongoClient | null = null;
  private db: Db | null = null;
  private connecting: Promise<Db> | null = null;
  private stopped = false;

  constructor(private readonly opts: AtlasOptions) {
    this.state = opts.uri ? 'idle' : 'disabled';
  }

  get configured(): boolean {
    return this.opts.uri !== null;
  }

  /** Begins connecting in the background; never throws, never waits. */
  start(): void {
    if (!this.configured || this.stopped) return;
    this.ready().catch(() => { /* state and lastError say it; the uploader logs */ });
  }

  /** The database, connected and indexed; rejects within the configured timeouts when Atlas is unreachable. */
  ready(): Promise<Db> {
    if (!this.opts.uri) return Promise.reject(new Error('mongodb.uri is not configured'));
    if (this.stopped) return Promise.reject(new Error('the Atlas client is stopped'));
    if (this.db && this.state === 'up') return Promise.resolve(this.db);
    if (!this.connecting) {
      const attempt = this.db ? this.recheck(this.db) : this.connect(this.opts.uri);
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
    const client = new MongoClient(uri, {
      connectTimeoutMS: this.opts.connectTimeoutMs,
      serverSelectionTimeoutMS: this.opts.serverSelectionTimeoutMs,
      socketTimeoutMS: Math.max(60_000, this.opts.connectTimeoutMs * 6),
      appName: this.opts.appName ?? 'iotgw',
      // Every write says w: majority itself; this is the default for anything that does not.
      writeConcern: { w: 'majority' },
    });
    this.client = client;
    try {
      await client.connect();
      const db = client.db(this.opts.database);
      await this.ensureIndexes(db);
      if (this.stopped) throw new Error('the Atlas client is stopped');
      this.db = db;
      this.state = 'up';
      this.lastError = null;
      // After a successful connect the driver reconnects by itself; an operation that fails
      // reports through markDown() so /groups and /stats show it.
      return db;
    } catch (err) {
      this.markDown(err);
      await this.closeClient();
      throw err;
    }
  }

  private async ensureIndexes(db: Db): Promise<void> {
    try {
      await db.collection('group_hours').createIndexes([
        { key: { group_id: 1, hour: 1 }, name: 'group_id_1_hour_1' },
        { key: { 'readings.device_id': 1, hour: 1 }, name: 'readings.device_id_1_hour_1' },
        { key: { gateway_id: 1, hour: 1 }, name: 'gateway_id_1_hour_1' },
      ]);
      await db.collection('device_groups').createIndex({ group_id: 1 }, { unique: true, name: 'group_id_1' });
    } catch (err) {
      const f = classify(err);
      // A user that may write but not create indexes (or an index built differently by hand)
      // must not stop uploads; anything else (unreachable) fails the connect.
      if (f.kind === 'transient') throw err;
      this.opts.log.warn({ reason: f.reason }, 'could not create the Atlas indexes; uploads continue, queries may be slow');
    }
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
    if (c) await c.close(true).catch(() => {});
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.closeClient();
    this.state = this.configured ? 'idle' : 'disabled';
  }
}
