import type { Reading } from '../reading.ts';
import type { RedisStore } from './redis-store.ts';
import type { SqliteStore } from './sqlite-store.ts';

export interface ConsolidateResult {
  /** Readings read from Redis and committed to SQLite (including ones SQLite already held). */
  copied: number;
  /** Of those, how many SQLite did not hold yet. */
  added: number;
  /** Readings deleted from Redis afterwards. */
  removed: number;
}

/**
 * Moves a window's readings from Redis into SQLite, page by page: commit a page to SQLite
 * (skipping the ids the SQLite window already holds), then trim Redis up to that page's last position, then the next page.
 *
 * Crash-safe and exactly-once: the copy is idempotent (by id against `windowIds`) and the delete always comes after the
 * commit, so a crash between the two only means the next run copies that page again and SQLite
 * skips it. A reading held by both stores (a Redis write that timed out but was applied late,
 * while the failover layer also wrote it to SQLite) ends up once in SQLite. Readings appended to
 * the Redis window while this runs survive the trims (they are past the positions read) and are
 * picked up by the next run. Call it under the buffer's maintenance lock.
 */
export async function consolidateWindow(redis: RedisStore, sqlite: SqliteStore, window: number, pageSize = 1000): Promise<ConsolidateResult> {
  const result: ConsolidateResult = { copied: 0, added: 0, removed: 0 };
  let after: string | null = null;
  // What SQLite already holds of the window (a page copied before a crash, a failed-over twin).
  const seen = sqlite.windowIds(window);
  for (;;) {
    const page = await redis.readWindow(window, after, pageSize);
    if (page.readings.length > 0) {
      const readings: Reading[] = page.readings.map(({ pos: _pos, ...r }) => r);
      result.added += sqlite.writeNow([readings], seen)[0];
      result.copied += readings.length;
      // The Redis copy goes next, and Redis makes that durable within a second: the SQLite copy
      // must be on disk first (a commit can be visible before it is; SqliteStore.sync).
      await sqlite.sync();
      result.removed += await redis.deleteWindow(window, page.readings[page.readings.length - 1].pos);
    }
    if (page.next === null) return result;
    after = page.next;
  }
}
