/**
 * The reading as it flows intake → store → group → upload.
 *
 * `doc` is exactly what the original API stored and returned (the device's flat object plus
 * `timestamp` and `status`), so `GET /redis` and `device_groups` stay compatible. Everything
 * the gateway needs for bookkeeping lives beside it, not inside it.
 */
export type ReadingDoc = Record<string, unknown> & {
  device_id: string;
  group_id: string;
  timestamp: string;
  status: 'online';
};

export interface Reading {
  /** Stable id: `dev:<device_id>/<boot_id>/<seq>` when the device sent both, so a retried send is stored once. */
  id: string;
  device_id: string;
  group_id: string;
  /** Start of the time window (epoch ms) this reading belongs to; the hour by default. */
  window: number;
  /** Gateway receive time, epoch ms. */
  received_at: number;
  doc: ReadingDoc;
}

/** A reading read back from a store, with the store-local position used to page and delete. */
export interface StoredReading extends Reading {
  /** Opaque, store-local, strictly increasing within a window (Redis stream id, SQLite rowid). */
  pos: string;
}

export const windowStart = (epochMs: number, windowMs: number): number => Math.floor(epochMs / windowMs) * windowMs;
