import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisStore } from '../gateway/buffer/redis-store.ts';
import { SqliteStore } from '../gateway/buffer/sqlite-store.ts';
import { comparePos } from '../gateway/buffer/records.ts';
import { createMetrics } from '../gateway/metrics.ts';
import type { Reading } from '../gateway/reading.ts';
import { TestRedis } from './support/redis.ts';
import { tempDir } from './support/ports.ts';
import { readAll } from './support/read-window.ts';

const H = 3600_000;
const T0 = Date.UTC(2024, 0, 1, 10);
let n = 0;
function reading(device = 'dev-1', at = T0 + 1000, id?: string): Reading {
  const rid = id ?? `r-${++n}`;
  return { id: rid, device_id: device, group_id: 'g1', window: Math.floor(at / H) * H, received_at: at, doc: { device_id: device, group_id: 'g1', timestamp: new Date(at).toISOString(), status: 'online', n: rid } };
}

describe('RedisStore', () => {
  const redis = new TestRedis({ appendonly: true });
  const tmp = tempDir('iotgw-redis-store-');
  const metrics = createMetrics({ defaultMetrics: false });
  const sqlite = new SqliteStore({ path: join(tmp.path, 'buffer.db'), metrics });
  let store: RedisStore;
  let raw: Redis;
  before(async () => {
    await redis.start();
    await sqlite.open();
    store = new RedisStore({ url: redis.url, sink: sqlite, metrics, writeTimeoutMs: 2000 });
    await store.open();
    raw = new Redis(redis.url);
  });
  after(async () => {
    raw.disconnect();
    await store.close();
    await sqlite.close();
    await redis.destroy();
    tmp.cleanup();
  });

  test('append dedups by id within a window, keeps the newest latest, lists windows', async () => {
    const a = reading('dev-a', T0 + 5000);
    const b = reading('dev-a', T0 + 1000);
    const c = reading('dev-b', T0 + H + 1);
    assert.equal(await store.append([a, b, c]), 3);
    assert.equal(await store.append([a, b]), 0);
    assert.equal(await store.append([reading('dev-a', T0 + 2000, a.id)]), 0);
    const latest = await store.latestPerDevice();
    assert.deepEqual(latest.map((d) => [d.device_id, d.n]).sort(), [['dev-a', a.id], ['dev-b', c.id]]);
    const windows = await store.listWindows();
    assert.deepEqual(windows.map((w) => [w.window, w.count]), [[T0, 2], [T0 + H, 1]]);
    assert.ok(windows[0].bytes > JSON.stringify(a.doc).length * 2);
  });

  test('positions compare as ms-seq; appendonly is reported', async () => {
    assert.equal(comparePos('redis', '1700000000000-10', '1700000000000-9'), 1);
    assert.equal(comparePos('redis', '999-0', '1000-0'), -1);
    assert.equal(comparePos('sqlite', '10', '9'), 1);
    assert.equal(await store.appendonly(), true);
  });

  test('key layout under the prefix', async () => {
    const keys = (await raw.keys('iotgw:*')).sort();
    for (const k of [`iotgw:w:${T0}`, `iotgw:ids:${T0}`, 'iotgw:windows', 'iotgw:latest', 'iotgw:latest_at', 'iotgw:wbytes']) assert.ok(keys.includes(k), `${k} missing from ${keys}`);
    assert.equal(await raw.type(`iotgw:w:${T0}`), 'stream');
    assert.equal(await raw.scard(`iotgw:ids:${T0}`), 2);
  });

  test('readWindow pages in stream order; deleteWindow up to a position spares later readings', async () => {
    const w = T0 + 5 * H;
    const batch = Array.from({ length: 7 }, (_, i) => reading(`dev-${i % 2}`, w + i));
    await store.append(batch.slice(0, 4));
    await store.append(batch.slice(4));
    const got = await readAll(store, w, 3);
    assert.deepEqual(got.map((r) => r.id), batch.map((r) => r.id));
    assert.deepEqual(got[0], { ...batch[0], pos: got[0].pos });
    const late = reading('dev-0', w + 100);
    await store.append([late]);
    assert.equal(await store.deleteWindow(w, got[got.length - 1].pos), 7);
    assert.deepEqual((await readAll(store, w)).map((r) => r.id), [late.id]);
    // a retry of an already deleted (uploaded) reading is still recognised while the window lives
    assert.equal(await store.append([batch[0]]), 0);
    const last = (await readAll(store, w)).at(-1)!;
    assert.equal(await store.deleteWindow(w, last.pos), 1);
    assert.equal(await raw.exists(`iotgw:w:${w}`, `iotgw:ids:${w}`), 0);
    assert.equal(await raw.zscore('iotgw:windows', String(w)), null);
    assert.equal(await raw.hexists('iotgw:wbytes', String(w)), 0);
  });

  test('corrupt stream entries are quarantined in SQLite, XDELed, counted, and never stall the page', async () => {
    const w = T0 + 6 * H;
    const first = reading('c', w);
    await store.append([first]);
    await redis.command('XADD', `iotgw:w:${w}`, '*', 'r', '{garbage');
    await redis.command('XADD', `iotgw:w:${w}`, '*', 'other', 'x');
    await redis.command('XADD', `iotgw:w:${w}`, '*', 'r', JSON.stringify({ id: 'no-doc', device_id: 'c', group_id: 'g1', received_at: 1 }));
    const next = reading('c', w + 1);
    await store.append([next]);
    const page1 = await store.readWindow(w, null, 2);
    assert.deepEqual(page1.readings.map((r) => r.id), [first.id]);
    const rest = await readAll(store, w, 2);
    assert.deepEqual(rest.map((r) => r.id), [first.id, next.id]);
    const q = sqlite.quarantined(10).filter((x) => x.source === 'redis');
    assert.equal(q.length, 3);
    assert.ok(q.some((x) => x.raw === '{garbage'));
    assert.equal(await raw.xlen(`iotgw:w:${w}`), 2);
    assert.equal((await metrics.recordsQuarantined.get()).values.find((v) => v.labels.store === 'redis')?.value, 3);
  });

  test('a window left with only corrupt entries disappears once read', async () => {
    const w = T0 + 7 * H;
    await redis.command('XADD', `iotgw:w:${w}`, '*', 'r', 'nope');
    await redis.command('ZADD', 'iotgw:windows', String(w), String(w));
    const page = await store.readWindow(w, null, 10);
    assert.deepEqual(page, { readings: [], next: null });
    assert.equal((await store.listWindows()).find((x) => x.window === w), undefined);
    assert.equal(await raw.exists(`iotgw:w:${w}`), 0);
  });

  test('deviceReadings newest first across windows, limited and filtered', async () => {
    const w = T0 + 8 * H;
    await store.append([reading('dr', w + 1), reading('dr', w + H + 2), reading('x', w + 3), reading('dr', w + 2 * H + 3)]);
    const all = await store.deviceReadings('dr', { limit: 10 });
    assert.deepEqual(all.map((d) => d.timestamp), [w + 2 * H + 3, w + H + 2, w + 1].map((t) => new Date(t).toISOString()));
    assert.equal((await store.deviceReadings('dr', { limit: 2 })).length, 2);
  });

  test('deleting a big window runs in bounded steps and deletes exactly up to the position', async () => {
    const w = T0 + 30 * H;
    const rs = Array.from({ length: 25_000 }, (_, i) => reading(`big${i % 3}`, w + i));
    for (let i = 0; i < rs.length; i += 1000) await store.append(rs.slice(i, i + 1000));
    const got = await readAll(store, w, 5000);
    assert.equal(await store.deleteWindow(w, got[19_999].pos), 20_000);
    const rest = await store.readWindow(w, null, 1);
    assert.equal(rest.readings[0].id, rs[20_000].id);
    assert.equal((await store.listWindows()).find((x) => x.window === w)!.count, 5000);
    assert.equal(await store.dropWindow(w), 5000);
  });

  test('dropWindow removes a whole window and returns its size', async () => {
    const w = T0 + 20 * H;
    await store.append([reading('d', w), reading('d', w + 1), reading('d', w + 2)]);
    assert.equal(await store.dropWindow(w), 3);
    assert.equal(await raw.exists(`iotgw:w:${w}`, `iotgw:ids:${w}`), 0);
  });
});

describe('RedisStore with appendonly', () => {
  test('acknowledged readings survive a redis-server restart', async () => {
    const redis = new TestRedis({ appendonly: true });
    await redis.start();
    const store = new RedisStore({ url: redis.url, writeTimeoutMs: 2000 });
    await store.open();
    const rs = Array.from({ length: 50 }, (_, i) => reading('aof', T0 + i));
    for (const r of rs) await store.append([r]);
    await redis.stop();
    await redis.start();
    await waitReady(store);
    const got = await readAll(store, T0, 20);
    assert.deepEqual(got.map((r) => r.id), rs.map((r) => r.id));
    assert.equal((await store.latestPerDevice())[0].n, rs[49].id);
    await store.close();
    await redis.destroy();
  });
});

async function waitReady(store: RedisStore): Promise<void> {
  for (let i = 0; i < 400; i++) {
    try { await store.ping(); return; } catch { await new Promise((r) => setTimeout(r, 25)); }
  }
  throw new Error('redis did not come back');
}
