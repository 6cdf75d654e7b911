import type Database from 'better-sqlite3';
import { LINES_PER_CHUNK, encodeLine } from './sqlite-chunks.ts';

/**
 * The SQLite buffer's tables (issue 18's layout):
 * - one table per window, `w_<window>` (WINDOW_TABLE): one row (chunk) per commit, `seq INTEGER
 *   PRIMARY KEY` in store order, no other index (sqlite-chunks.ts has the row format); dropped
 *   whole once the window is uploaded;
 * - `windows`: each window's count and bytes, a snapshot written coarsely (the live figures are in
 *   memory) with `upto`, the newest chunk it counts; opening the store adds the chunks after it;
 * - `acked`: the acknowledged-record of issue 21 (acked-ledger.ts), one row per device; written
 *   when readings leave the file (a window dropped or cut) and by the mirror of Redis's records,
 *   not with every commit: the buffered chunks hold the rest, and opening the store rebuilds it
 *   from them (sqlite-store.ts, `ackedRecords`);
 * - `latest` (all waiting devices once per `sqlite.latest_every_ms`), `quarantine`,
 *   `meta` (migrations run; `seq_floor`, the newest chunk seq ever dropped, so positions are never reused).
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS latest(device_id TEXT PRIMARY KEY, received_at INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine(id INTEGER PRIMARY KEY, source TEXT NOT NULL, window INTEGER, pos TEXT, raw TEXT, reason TEXT, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS windows(window INTEGER PRIMARY KEY, count INTEGER NOT NULL, bytes INTEGER NOT NULL, upto INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS acked(device_id TEXT PRIMARY KEY, record TEXT NOT NULL) WITHOUT ROWID;
`;

export const windowTable = (window: number): string => `"w_${window < 0 ? `m${-window}` : window}"`;

export const chunkTableSql = (window: number): string =>
  `CREATE TABLE IF NOT EXISTS ${windowTable(window)}(seq INTEGER PRIMARY KEY, n INTEGER NOT NULL, bytes INTEGER NOT NULL, at INTEGER NOT NULL, devices TEXT NOT NULL, body TEXT NOT NULL)`;

/**
 * The layout before issue 18 (one `readings` row per reading, `UNIQUE(id)`, `(window, seq)` index,
 * `window_stats` kept by triggers) moved into per-window tables in ONE transaction: a crash leaves
 * the old layout whole and the migration runs again. Each old row becomes a chunk of one reading
 * whose seq is the old seq, so its position is `seq * LINES_PER_CHUNK`; positions the uploader
 * recorded (`upload_manifest.up_to`, the old seq) are converted the same way, so a delete it
 * replays removes exactly what it would have. The old rows are read whole (unreadable docs
 * included: readWindow quarantines them later, as before).
 */
function chunksPerWindow(db: Database.Database): void {
  const has = (name: string): boolean => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
  if (!has('readings')) return;
  const stats = new Map<number, { count: number; bytes: number; upto: number }>();
  let maxSeq = 0;
  const rows = db.prepare('SELECT seq, id, device_id, group_id, window, received_at, doc FROM readings ORDER BY window, seq').raw().all() as [number, string, string, string, number, number, string][];
  let insert: Database.Statement | null = null;
  let current: number | null = null;
  for (const [seq, id, device, group, window, at, doc] of rows) {
    if (window !== current) {
      db.exec(chunkTableSql(window));
      insert = db.prepare(`INSERT INTO ${windowTable(window)}(seq, n, bytes, at, devices, body) VALUES (?, 1, ?, ?, ?, ?)`);
      current = window;
    }
    const bytes = Buffer.byteLength(doc);
    insert!.run(seq, bytes, at, `\n${device}\n`, encodeLine({ id, device_id: device, group_id: group, window, received_at: at, doc: null as never }, doc));
    const s = stats.get(window) ?? { count: 0, bytes: 0, upto: 0 };
    s.count++;
    s.bytes += bytes;
    s.upto = Math.max(s.upto, seq);
    stats.set(window, s);
    maxSeq = Math.max(maxSeq, seq);
  }
  const win = db.prepare('INSERT INTO windows(window, count, bytes, upto) VALUES (?, ?, ?, ?)');
  for (const [w, s] of stats) win.run(w, s.count, s.bytes, s.upto);
  // AUTOINCREMENT never reused a seq, even a deleted one: neither may the new positions.
  const seqRow = has('sqlite_sequence') ? db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'readings'").get() as { seq: number } | undefined : undefined;
  const floor = Math.max(maxSeq, seqRow?.seq ?? 0);
  db.prepare("INSERT INTO meta(key, value) VALUES ('seq_floor', ?) ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), excluded.value)").run(String(floor));
  if (has('upload_manifest')) {
    db.prepare(`UPDATE upload_manifest SET up_to = CAST(CAST(up_to AS INTEGER) * ${LINES_PER_CHUNK} AS TEXT) WHERE store = 'sqlite' AND up_to IS NOT NULL`).run();
  }
  db.exec(`DROP TRIGGER IF EXISTS readings_stats_ins; DROP TRIGGER IF EXISTS readings_stats_del; DROP TRIGGER IF EXISTS readings_stats_upd;
    DROP TABLE readings; DROP TABLE IF EXISTS window_stats;`);
}

/** Schema changes for data dirs written by older versions, in order (each runs once per file). */
export const MIGRATIONS: [string, (db: Database.Database) => void][] = [
  ['chunks_per_window_v1', chunksPerWindow],
];
