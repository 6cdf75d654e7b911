/** The buffer's public surface: import from here (`gateway/buffer/index.ts`). */
export { Buffer, ReadingBuffer, maskUrl, type AppendResult, type BufferDeps, type StoredWindow, type MaintenanceReport, type ConsolidateResult } from './buffer.ts';
export { SqliteStore, SQLITE_MAX_POS, type SqliteStoreOptions } from './sqlite-store.ts';
export { RedisStore, TimeoutError, type RedisStoreOptions } from './redis-store.ts';
export type { ReadingStore, QuarantineSink, StoreKind, WindowSummary, WindowPage, DeviceQuery } from './store.ts';
export { comparePos, type DeviceEntry, type LatestEntry } from './records.ts';
