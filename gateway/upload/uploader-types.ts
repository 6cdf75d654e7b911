import type BetterSqlite3 from 'better-sqlite3';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import type { Config } from '../config.ts';
import type { ReadingStore, StoreKind } from '../buffer/store.ts';
import type { AtlasClient } from './atlas.ts';
import type { UploadFailure } from './errors.ts';
import type { WindowReport } from './window-types.ts';

/** What the uploader needs from `gateway/buffer` (the `Buffer` class satisfies it structurally). */
export interface UploadBuffer {
  listWindows(): Promise<{ store: StoreKind; window: number; count: number; bytes: number }[]>;
  /** `sqlite.sync()`: resolves once the file's commits so far are on disk (the manifest lives there). */
  stores: { sqlite: ReadingStore & { db?: BetterSqlite3.Database; sync(): Promise<void> }; redis?: ReadingStore | null };
  /** Serializes the callback with every other deleter of readings (spill, drops, consolidate). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Moves a window's readings from Redis into SQLite (idempotent by reading id). */
  consolidate(window: number): Promise<unknown>;
  /** The store intake writes to: `sqlite` while a configured Redis is unhealthy (then Redis is not read). */
  readonly mode?: StoreKind;
  /** Refreshes the buffer's gauges after a pass, when the buffer offers it. */
  refreshGauges?(): Promise<void>;
}

export type UploadConfig = Pick<Config, 'gateway_id' | 'window_seconds' | 'mongodb' | 'upload'> & { sqlite?: { path: string } };

export interface UploaderOptions {
  config: UploadConfig;
  log: Logger;
  metrics: { registry: Registry };
  buffer: UploadBuffer;
  /** SQLite handle for the manifest; default: the buffer's SQLite store's `db`. */
  db?: BetterSqlite3.Database;
  /** Shared with the /groups routes; default: one built from `config.mongodb`. */
  atlas?: AtlasClient;
  /** Lock file against a second uploader on the same buffer; default `<sqlite.path>.upload.lock`, null: none. */
  lockPath?: string | null;
  now?: () => number;
}

export interface UploadReport {
  enabled: boolean;
  ok: boolean;
  started_at: string;
  finished_at: string;
  windows: WindowReport[];
  /** Windows left for a later pass: backoff after a refusal, or the store was unavailable. */
  skipped: { window: string; reason: string }[];
  readings: number;
  parts: number;
  error: (UploadFailure & { at: string }) | null;
}

export interface UploadStatus {
  enabled: boolean;
  atlas: string;
  last_success: string | null;
  last_error: { at: string; kind: string; reason: string } | null;
  queued_windows: number;
  queued_bytes: number;
  queued_readings: number;
  in_progress: boolean;
  next_pass: string | null;
  /** Parts Atlas refused, set aside until `iotgw upload --retry-quarantine` (quarantine.ts). */
  quarantine: { parts: number; readings: number };
  /** The measured uplink (null: not measured yet) and what the uploader derived from it (uplink.ts). */
  uplink: { bytes_per_second: number | null; part_bytes: number; socket_timeout_ms: number };
}
