/**
 * Chaos: truncated records in both stores. Readings land in Redis and, after Redis is killed, in
 * SQLite; with the gateway stopped, the test cuts some SQLite rows' documents in half and one
 * line of a Redis chunk. After a restart with Atlas configured, the damaged readings must be
 * quarantined (kept in the quarantine table, counted in iotgw_records_quarantined_total) and
 * every other acknowledged reading uploaded exactly once: the damage never stalls the queue.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { startMongoForTests } from './support/mongo-server.ts';
import { TestRedis } from './support/redis.ts';
import { waitFor } from './support/ports.ts';
import { Fleet } from './chaos/fleet.ts';
import { settleAndAccount, assertExactlyOnce, metricByLabel } from './chaos/accounting.ts';
import { chaosGateway, dropDatabase, pick, scenarioDir } from './chaos/setup.ts';
import { CHUNK_HEAD } from '../gateway/buffer/redis-chunks.ts';
import { truncateSqliteLines } from './support/buffer-inspect.ts';

let mongo: { uri: string; stop(): Promise<void> };
before(async () => { mongo = await startMongoForTests(); });
after(async () => { await mongo.stop(); });

/** Cuts the documents of `n` SQLite rows in half; returns their reading ids. */
function truncateSqlite(path: string, n: number): string[] {
  const db = new Database(path);
  try {
    return truncateSqliteLines(db, n);
  } finally {
    db.close();
  }
}

/** Cuts one reading line of a Redis chunk in half; returns its reading id. */
async function truncateRedisLine(url: string): Promise<string> {
  const redis = new Redis(url);
  try {
    for (const w of await redis.zrange('iotgw:windows', 0, -1)) {
      const items = await redis.lrange(`iotgw:l:${w}`, 0, -1);
      const at = items.findIndex((e) => e.startsWith(CHUNK_HEAD) && e.split('\n').length > 3);
      if (at < 0) continue;
      const lines = items[at].split('\n');
      const id = JSON.parse(lines[2]).id as string;
      lines[2] = lines[2].slice(0, Math.floor(lines[2].length / 2));
      await redis.lset(`iotgw:l:${w}`, at, lines.join('\n'));
      return id;
    }
    throw new Error('no Redis chunk of two or more readings to damage');
  } finally {
    redis.disconnect();
  }
}

test('truncated records in SQLite and Redis are quarantined and counted, and the rest is uploaded once', { timeout: 300_000 }, async () => {
  const dir = scenarioDir('corrupt');
  const redis = await new TestRedis({ appendonly: true }).start();
  const database = `chaos_corrupt_${process.pid}`;
  const gatewayId = 'gw-chaos-corrupt';
  // First without Atlas, so everything stays local to be damaged.
  let gw = await chaosGateway({ dataDir: dir.path, redisUrl: redis.url, gatewayId, config: { redis: { write_timeout_ms: 200, health_interval_ms: 200 } } }).start();
  const fleet = new Fleet({ url: () => gw.url, devices: 6, rate: 25, batch: 10, boot: `c${process.pid}` }).start();
  try {
    await waitFor(() => fleet.acked.size > 400, 30_000, 'readings in Redis');
    await redis.kill();
    const atKill = fleet.acked.size;
    await waitFor(() => fleet.acked.size > atKill + 400, 30_000, 'readings in SQLite');
    await fleet.drain();
    await gw.stop();
    await redis.start();

    const lost = new Set([...truncateSqlite(dir.sqlite, pick(5, 50)), await truncateRedisLine(redis.url)]);

    gw = await chaosGateway({ dataDir: dir.path, redisUrl: redis.url, mongoUri: mongo.uri, gatewayId, database, port: gw.port }).start();
    const a = await settleAndAccount({ scenario: 'corrupt-records', fleet, sqlitePath: dir.sqlite, redisUrl: redis.url, mongo: { uri: mongo.uri, database, gatewayId }, gateway: gw, expectedLost: lost });
    assertExactlyOnce(a, fleet);
    assert.equal(a.atlas, a.acked - lost.size, 'everything but the damaged records reached Atlas');
    const q = metricByLabel(String((await gw.get('/metrics')).body), 'iotgw_records_quarantined_total', 'store');
    assert.equal((q.sqlite ?? 0) + (q.redis ?? 0), lost.size, `each damaged record quarantined and counted once: ${JSON.stringify(q)}`);
    const db = new Database(dir.sqlite, { readonly: true });
    const kept = (db.prepare('SELECT count(*) AS n FROM quarantine').get() as { n: number }).n;
    db.close();
    assert.equal(kept, lost.size, 'the damaged records are kept in the quarantine table for a post-mortem');
  } finally {
    await gw.stop();
    await redis.destroy();
    await dropDatabase(mongo.uri, database);
    dir.cleanup();
  }
});
