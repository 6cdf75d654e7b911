import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { BSON } from 'mongodb';
import { elementRecords } from '../../gateway/buffer/redis-chunks.ts';
import { bodyLines, packBody, type Body } from '../../gateway/buffer/sqlite-chunks.ts';

/**
 * Every reading id the buffer would upload, read straight from the SQLite file and the Redis
 * lists (not through the gateway), with repeats kept: a test of "exactly once" must see
 * duplicates. Redis readings named in the window's `dead` set are skipped, as the uploader skips
 * them: they are copies of failed-over writes that Redis applied without acknowledging. Empty
 * elements and lines are tombstones (quarantined, deleted or resent readings).
 */
export async function storedReadingIds(opts: { sqlitePath: string; redisUrl?: string; prefix?: string }): Promise<string[]> {
  const ids: string[] = [];
  if (existsSync(opts.sqlitePath)) {
    const db = new Database(opts.sqlitePath, { readonly: true, fileMustExist: true });
    try {
      ids.push(...sqliteReadingIds(db));
      ids.push(...uploadQuarantineIds(db));
    } finally {
      db.close();
    }
  }
  if (opts.redisUrl) {
    const prefix = opts.prefix ?? 'iotgw:';
    const redis = new Redis(opts.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      for (const w of await redis.zrange(`${prefix}windows`, 0, -1)) {
        const dead = new Set(await redis.smembers(`${prefix}dead:${w}`));
        for (const raw of await redis.lrange(`${prefix}l:${w}`, 0, -1)) {
          for (const record of elementRecords(raw)) {
            const id = idOf(record);
            if (id !== null && !dead.has(id)) ids.push(id);
          }
        }
      }
    } finally {
      redis.disconnect();
    }
  }
  return ids;
}

/**
 * Ids of every reading in the SQLite buffer's window tables (`w_<window>`, one row per append
 * commit, one line per reading, an empty line for a deleted or quarantined one; the body deflated:
 * sqlite-chunks.ts reads it).
 * A damaged line yields no id, like a damaged Redis record.
 */
export function sqliteReadingIds(db: Database.Database): string[] {
  const ids: string[] = [];
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'w_[0-9m]*'").pluck().all() as string[];
  for (const t of tables) {
    for (const body of db.prepare(`SELECT body FROM "${t}" ORDER BY seq`).pluck().iterate() as Iterable<Body>) {
      for (const line of bodyLines(body)) {
        if (line.length === 0) continue;
        const id = lineIdOf(line);
        if (id !== null) ids.push(id);
      }
    }
  }
  return ids;
}

/** Every readable reading in the SQLite buffer, as the old one-row-per-reading table listed them (`doc` as JSON text). */
export function sqliteRows(db: Database.Database): { id: string; device_id: string; window: number; received_at: number; doc: string }[] {
  const out: { id: string; device_id: string; window: number; received_at: number; doc: string }[] = [];
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'w_[0-9m]*'").pluck().all() as string[];
  for (const t of tables) {
    const window = t.startsWith('w_m') ? -Number(t.slice(3)) : Number(t.slice(2));
    for (const body of db.prepare(`SELECT body FROM "${t}" ORDER BY seq`).pluck().iterate() as Iterable<Body>) {
      for (const line of bodyLines(body)) {
        try {
          const [id, device_id, , received_at, doc] = JSON.parse(line) as [string, string, string, number, unknown];
          out.push({ id, device_id, window, received_at, doc: JSON.stringify(doc) });
        } catch { /* empty or damaged line */ }
      }
    }
  }
  return out;
}

/** Cuts the lines of `n` stored readings whose id starts with `prefix` in half (a damaged record); returns their ids. */
export function truncateSqliteLines(db: Database.Database, n: number, prefix = 'dev:'): string[] {
  const cut: string[] = [];
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'w_[0-9m]*'").pluck().all() as string[];
  for (const t of tables) {
    for (const row of db.prepare(`SELECT seq, body FROM "${t}"`).all() as { seq: number; body: Body }[]) {
      const lines = bodyLines(row.body);
      let changed = false;
      for (let i = 0; i < lines.length && cut.length < n; i++) {
        const id = lineIdOf(lines[i]);
        if (id === null || !id.startsWith(prefix)) continue;
        lines[i] = lines[i].slice(0, Math.floor(lines[i].length / 2));
        cut.push(id);
        changed = true;
      }
      if (changed) db.prepare(`UPDATE "${t}" SET body = ? WHERE seq = ?`).run(packBody(lines), row.seq);
      if (cut.length >= n) return cut;
    }
  }
  return cut;
}

function lineIdOf(line: string): string | null {
  try {
    const v = JSON.parse(line) as unknown;
    return Array.isArray(v) && typeof v[0] === 'string' ? v[0] : null;
  } catch {
    return null;
  }
}

/**
 * Readings of parts Atlas refused, kept in the uploader's quarantine until `iotgw upload
 * --retry-quarantine` (their window was deleted from the stores): a local copy like any other.
 */
function uploadQuarantineIds(db: Database.Database): string[] {
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'upload_quarantine'").get()) return [];
  const ids: string[] = [];
  for (const row of db.prepare('SELECT doc FROM upload_quarantine').iterate() as Iterable<{ doc: Buffer }>) {
    for (const r of BSON.deserialize(row.doc).readings as { _rid: string }[]) ids.push(r._rid);
  }
  return ids;
}

/** How many readings the uploader's quarantine holds (parts Atlas refused). */
export function uploadQuarantineCount(sqlitePath: string): number {
  if (!existsSync(sqlitePath)) return 0;
  const db = new Database(sqlitePath, { readonly: true, fileMustExist: true });
  try {
    return uploadQuarantineIds(db).length;
  } finally {
    db.close();
  }
}

/** A record's id; null for a damaged record (not yet quarantined), which a test that damaged it accounts itself. */
function idOf(record: string): string | null {
  try {
    return JSON.parse(record).id;
  } catch {
    return null;
  }
}

/** Readings a Redis window holds, read straight from Redis by decoding every element. */
export async function redisWindowCount(redis: Redis, window: number | string, prefix = 'iotgw:'): Promise<number> {
  let n = 0;
  for (const raw of await redis.lrange(`${prefix}l:${window}`, 0, -1)) n += elementRecords(raw).length;
  return n;
}

/** Readings held in all Redis windows, read straight from Redis. */
export async function redisHeldReadings(redis: Redis, prefix = 'iotgw:'): Promise<number> {
  let n = 0;
  for (const w of await redis.zrange(`${prefix}windows`, 0, -1)) n += await redisWindowCount(redis, w, prefix);
  return n;
}

export function countById(ids: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}
