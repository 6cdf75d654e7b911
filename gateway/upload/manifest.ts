import type BetterSqlite3 from 'better-sqlite3';
import type { StoreKind } from '../buffer/store.ts';

/**
 * The upload intent log, kept in the buffer's own SQLite file so it is as durable as the readings
 * it describes (same file, same fsync policy).
 *
 * `upload_manifest`: one row per window being uploaded, written BEFORE anything goes to Atlas.
 * - phase `upload` (`up_to` NULL): Atlas may hold some of the window's parts. Replay = upload the
 *   window again from its start; the part builder gives the same `_id`s (see parts.ts), so Atlas
 *   ends with the same documents.
 * - phase `commit` (`up_to` set): every part and `device_groups` were acknowledged. Replay = finish
 *   the local delete of positions <= `up_to` (idempotent) and drop the row. This is what makes a
 *   crash between Atlas's ack and the local delete harmless, and keeps a replay from re-reading
 *   only the late readings and mistaking the uploaded ones for gone.
 *
 * `upload_parts`: the `_id`s a window's upload may have written, recorded before each write.
 * When a replay no longer produces one of them, its readings left the store between attempts
 * (moved from Redis to SQLite by a spill, or dropped by a buffer bound); that document is deleted
 * from Atlas so a moved reading is not uploaded under two `_id`s. A dropped reading is then
 * absent from Atlas too, which is what `iotgw_readings_dropped_total` says.
 */
export interface ManifestRow {
  window: number;
  store: StoreKind;
  phase: 'upload' | 'commit';
  up_to: string | null;
  created_at: number;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  /** The part size the window's parts are cut with (chosen when it began; replays keep it). NULL: rows of earlier versions. */
  part_bytes: number | null;
}

type Db = BetterSqlite3.Database;

export class Manifest {
  /**
   * `sync` makes the file's commits so far durable (the buffer's `SqliteStore.sync`): a manifest
   * write can be visible before it is on disk.
   */
  constructor(private readonly db: Db, private readonly sync: () => Promise<void> = async () => undefined) {}

  /**
   * Resolves once every manifest write so far is on disk. Called before each effect outside the
   * file that a replay must know about: an Atlas write (after `intend`, which follows `begin`)
   * and the local delete (after `commit`), since a lost `commit` would make the replay re-read
   * what is left and delete the uploaded parts from Atlas as stale.
   */
  durable(): Promise<void> {
    return this.sync();
  }

  /** Creates the tables (idempotent); call once at start. */
  migrate(): void {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS upload_manifest (
        window INTEGER PRIMARY KEY,
        store TEXT NOT NULL,
        phase TEXT NOT NULL DEFAULT 'upload',
        up_to TEXT,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
      );
      CREATE TABLE IF NOT EXISTS upload_parts (
        window INTEGER NOT NULL,
        part_id TEXT NOT NULL,
        PRIMARY KEY (window, part_id)
      ) WITHOUT ROWID;
    `);
    const columns = (this.db.prepare('PRAGMA table_info(upload_manifest)').all() as { name: string }[]).map((c) => c.name);
    if (!columns.includes('part_bytes')) this.db.exec('ALTER TABLE upload_manifest ADD COLUMN part_bytes INTEGER');
  }

  all(): ManifestRow[] {
    return this.db.prepare('SELECT * FROM upload_manifest ORDER BY window').all() as ManifestRow[];
  }

  get(window: number): ManifestRow | undefined {
    return this.db.prepare('SELECT * FROM upload_manifest WHERE window = ?').get(window) as ManifestRow | undefined;
  }

  begin(window: number, store: StoreKind, now: number, partBytes: number): ManifestRow {
    this.db.prepare('INSERT INTO upload_manifest (window, store, phase, created_at, part_bytes) VALUES (?, ?, \'upload\', ?, ?)').run(window, store, now, partBytes);
    return this.get(window)!;
  }

  /** Records part ids before they are written (one transaction per flush). */
  intend(window: number, partIds: readonly string[]): void {
    const ins = this.db.prepare('INSERT OR IGNORE INTO upload_parts (window, part_id) VALUES (?, ?)');
    this.db.transaction(() => { for (const id of partIds) ins.run(window, id); })();
  }

  intended(window: number): string[] {
    return (this.db.prepare('SELECT part_id FROM upload_parts WHERE window = ?').all(window) as { part_id: string }[]).map((r) => r.part_id);
  }

  forgetParts(window: number, partIds: readonly string[]): void {
    const del = this.db.prepare('DELETE FROM upload_parts WHERE window = ? AND part_id = ?');
    this.db.transaction(() => { for (const id of partIds) del.run(window, id); })();
  }

  commit(window: number, upTo: string | null): void {
    this.db.prepare('UPDATE upload_manifest SET phase = \'commit\', up_to = ? WHERE window = ?').run(upTo, window);
  }

  failed(window: number, reason: string, nextAttemptAt: number): void {
    this.db.prepare('UPDATE upload_manifest SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE window = ?').run(reason, nextAttemptAt, window);
  }

  finish(window: number): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM upload_parts WHERE window = ?').run(window);
      this.db.prepare('DELETE FROM upload_manifest WHERE window = ?').run(window);
    })();
  }
}
