import type { Reading, ReadingDoc, StoredReading } from '../reading.ts';

export type StoreKind = 'redis' | 'sqlite';

export interface WindowSummary {
  /** Window start, epoch ms. */
  window: number;
  count: number;
  /** Approximate stored size of the readings' JSON. */
  bytes: number;
}

export interface WindowPage {
  readings: StoredReading[];
  /** Position to pass as `after` for the next page; null when the window has no more readings. */
  next: string | null;
}

export interface DeviceQuery {
  from?: number;
  to?: number;
  limit: number;
}

/**
 * What every buffer offers to intake, the read API and the uploader.
 *
 * Contract: `append` resolves only when the readings are durable in this store (Redis with
 * appendonly, or a committed SQLite transaction), and is idempotent per reading id, so a retried
 * request or a replay after failover stores each reading once. `deleteWindow` removes only
 * positions up to `upTo`, so readings that arrived while an upload was in flight survive it.
 */
export interface ReadingStore {
  readonly kind: StoreKind;
  open(): Promise<void>;
  close(): Promise<void>;
  /** Returns how many of the readings were new to this store (the rest were duplicates). */
  append(readings: Reading[]): Promise<number>;
  /** Latest reading of each device, as the original API's `GET /redis` listed them. */
  latestPerDevice(): Promise<ReadingDoc[]>;
  listWindows(): Promise<WindowSummary[]>;
  /** Readings of a window in store order, after position `after` (null: from the start). */
  readWindow(window: number, after: string | null, limit: number): Promise<WindowPage>;
  /** Deletes the window's readings with position <= upTo; returns how many were deleted. */
  deleteWindow(window: number, upTo: string): Promise<number>;
  deviceReadings(deviceId: string, query: DeviceQuery): Promise<ReadingDoc[]>;
  /** Rejects when the store cannot take writes now. */
  ping(): Promise<void>;
}

/**
 * What a store persists of the acknowledged-record with a write (acked-ledger.ts): given the
 * readings of the appends that share one store call or transaction, the (device_id, serialized
 * record) pairs to write with them, atomically. The record is the durable one plus these readings
 * (and, for the devices they name, `earlier`: the same store's earlier writes that are stored
 * whenever this one is), never other writes still under way (one of those may yet fail).
 */
export type AckedRecordsFor = (appends: readonly (readonly Reading[])[], earlier?: readonly (readonly Reading[])[]) => [deviceId: string, record: string][];

/** Where records that cannot be parsed go, so they never stall the queue behind them (rule 5). */
export interface QuarantineSink {
  quarantine(source: StoreKind, window: number, pos: string, raw: string, reason: string): void;
}
