import type Database from 'better-sqlite3';

/**
 * The SQLite buffer's tables. `readings` (seq AUTOINCREMENT = `pos`, id UNIQUE, indexed by
 * (window, seq) only), `latest`, `quarantine`, `meta` (migrations run), `window_stats`, `acked`.
 */

/**
 * How far back in receive time a row may be from the newest row before it in its window while
 * the window still counts as "in order" (concurrent requests commit a little out of order).
 */
export const ORDER_MARGIN_MS = 60_000;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS readings(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  device_id TEXT NOT NULL,
  group_id TEXT NOT NULL,
  window INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_window_seq ON readings(window, seq);
CREATE TABLE IF NOT EXISTS latest(device_id TEXT PRIMARY KEY, received_at INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine(id INTEGER PRIMARY KEY, source TEXT NOT NULL, window INTEGER, pos TEXT, raw TEXT, reason TEXT, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
-- The acknowledged-record (acked-ledger.ts): one row per device, its serialized record, rewritten
-- in the transaction that stores the device's readings (and by the mirror of Redis's records).
CREATE TABLE IF NOT EXISTS acked(device_id TEXT PRIMARY KEY, record TEXT NOT NULL) WITHOUT ROWID;
-- Per-window count and bytes, kept by triggers so listWindows() never scans readings and stays
-- right whoever writes the table (a test, a migration, the sqlite3 shell). max_at: see TRIGGERS.
CREATE TABLE IF NOT EXISTS window_stats(window INTEGER PRIMARY KEY, count INTEGER NOT NULL, bytes INTEGER NOT NULL, max_at INTEGER);
`;

/**
 * `window_stats.max_at` is the newest receive time in the window while its rows are in receive
 * order in seq order, give or take ORDER_MARGIN_MS; NULL once they are not (a Redis window
 * consolidated into one that already took readings during a failover, a row moved by hand, rows
 * older than the column). A device scan may stop early only in an ordered window: there, a row
 * older than X - margin means every row before it is older than X. Deletes leave max_at as an
 * upper bound, which keeps both uses safe.
 */
const TRIGGERS = `
CREATE TRIGGER IF NOT EXISTS readings_stats_ins AFTER INSERT ON readings BEGIN
  INSERT INTO window_stats(window, count, bytes, max_at) VALUES (new.window, 1, length(CAST(new.doc AS BLOB)), new.received_at)
    ON CONFLICT(window) DO UPDATE SET count = count + 1, bytes = bytes + excluded.bytes,
      max_at = CASE WHEN excluded.max_at >= max_at - ${ORDER_MARGIN_MS} THEN max(max_at, excluded.max_at) END;
END;
CREATE TRIGGER IF NOT EXISTS readings_stats_del AFTER DELETE ON readings BEGIN
  UPDATE window_stats SET count = count - 1, bytes = bytes - length(CAST(old.doc AS BLOB)) WHERE window = old.window;
  DELETE FROM window_stats WHERE window = old.window AND count <= 0;
END;
CREATE TRIGGER IF NOT EXISTS readings_stats_upd AFTER UPDATE OF doc, window, received_at ON readings BEGIN
  UPDATE window_stats SET count = count - 1, bytes = bytes - length(CAST(old.doc AS BLOB)) WHERE window = old.window;
  DELETE FROM window_stats WHERE window = old.window AND count <= 0;
  INSERT INTO window_stats(window, count, bytes, max_at) VALUES (new.window, 1, length(CAST(new.doc AS BLOB)), new.received_at)
    ON CONFLICT(window) DO UPDATE SET count = count + 1, bytes = bytes + excluded.bytes,
      max_at = CASE WHEN new.window = old.window AND new.received_at = old.received_at THEN max_at END;
END;
`;

/** Schema changes for data dirs written by older versions, in order (each runs once per file). */
export const MIGRATIONS: [string, (db: Database.Database) => void][] = [
  // Each insert paid for a second index (about a third of the per-row cost) that only the device
  // readings API used; that API now scans windows (deviceEntries).
  ['readings_drop_device_time_v1', (db) => db.exec('DROP INDEX IF EXISTS readings_device_time')],
  ['window_stats_max_at_v1', (db) => {
    const cols = db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('window_stats')").all();
    if (!cols.some((c) => c.name === 'max_at')) db.exec('ALTER TABLE window_stats ADD COLUMN max_at INTEGER');
    db.exec('DROP TRIGGER IF EXISTS readings_stats_ins; DROP TRIGGER IF EXISTS readings_stats_del; DROP TRIGGER IF EXISTS readings_stats_upd;');
    db.exec(TRIGGERS);
  }],
];
