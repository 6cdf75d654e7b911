import type Database from 'better-sqlite3';
import type { Reading } from '../reading.ts';
import type { SqliteStore } from './sqlite-store.ts';
import type { RedisStore } from './redis-store.ts';

/**
 * Readings whose Redis write failed or timed out are written to SQLite and acknowledged, but
 * Redis may still have applied the write (killed after appending to its AOF, or paused and
 * resumed with the command in its socket). Such a reading would sit in both stores, and if the
 * SQLite copy were uploaded and deleted while Redis was away, Redis's copy would be uploaded a
 * second time when it returns (rule 2: nothing uploaded twice by the switch).
 *
 * So the ids of every failed-over batch are kept in `redis_in_doubt`, after the SQLite commit
 * (a crash in between only loses the bookkeeping, never a reading). Before intake goes back to
 * Redis, `reconcile` marks the ones Redis does hold as dead there (reads skip them), then forgets
 * them: the SQLite copy, or its upload, is the one that counts.
 */
export class InDoubtLedger {
  private insert!: Database.Statement;
  private db!: Database.Database;

  constructor(private readonly sqlite: SqliteStore) {}

  open(): void {
    this.sqlite.migrate('redis_in_doubt_v1', (db) => {
      db.exec('CREATE TABLE IF NOT EXISTS redis_in_doubt(id TEXT NOT NULL, window INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (window, id))');
    });
    this.db = this.sqlite.db;
    this.insert = this.db.prepare('INSERT OR IGNORE INTO redis_in_doubt(id, window, at) VALUES (?, ?, ?)');
  }

  record(readings: Reading[], at = Date.now()): void {
    this.db.transaction(() => {
      for (const r of readings) this.insert.run(r.id, r.window, at);
    })();
  }

  get size(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM redis_in_doubt').get() as { n: number }).n;
  }

  /** Marks in Redis what it holds of the in-doubt readings, window by window; returns how many it held. */
  async reconcile(redis: RedisStore): Promise<number> {
    let marked = 0;
    const windows = this.db.prepare('SELECT DISTINCT window FROM redis_in_doubt').pluck().all() as number[];
    for (const window of windows) {
      const ids = this.db.prepare('SELECT id FROM redis_in_doubt WHERE window = ?').pluck().all(window) as string[];
      marked += await redis.markDead(window, ids);
      // Forgotten only once Redis has its dead set: a failure above leaves them for the next try.
      this.db.prepare('DELETE FROM redis_in_doubt WHERE window = ?').run(window);
    }
    return marked;
  }
}
