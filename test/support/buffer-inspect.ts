import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';

/**
 * Every reading id the buffer would upload, read straight from the SQLite file and the Redis
 * streams (not through the gateway), with repeats kept: a test of "exactly once" must see
 * duplicates. Redis entries named in the window's `dead` set are skipped, as the uploader skips
 * them: they are copies of failed-over writes that Redis applied without acknowledging.
 */
export async function storedReadingIds(opts: { sqlitePath: string; redisUrl?: string; prefix?: string }): Promise<string[]> {
  const ids: string[] = [];
  if (existsSync(opts.sqlitePath)) {
    const db = new Database(opts.sqlitePath, { readonly: true, fileMustExist: true });
    try {
      for (const row of db.prepare('SELECT id FROM readings').iterate() as Iterable<{ id: string }>) ids.push(row.id);
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
        for (const [, fields] of await redis.xrange(`${prefix}w:${w}`, '-', '+')) {
          const id = JSON.parse(fields[fields.indexOf('r') + 1]).id;
          if (!dead.has(id)) ids.push(id);
        }
      }
    } finally {
      redis.disconnect();
    }
  }
  return ids;
}

export function countById(ids: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}
