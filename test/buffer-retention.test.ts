import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Buffer as ReadingBuffer } from '../gateway/buffer/buffer.ts';
import type { ReadingStore } from '../gateway/buffer/store.ts';
import { createMetrics, type Metrics } from '../gateway/metrics.ts';
import { loadConfig } from '../gateway/config.ts';
import type { Reading } from '../gateway/reading.ts';
import { TestRedis } from './support/redis.ts';
import { tempDir } from './support/ports.ts';
import { redisWindowCount } from './support/buffer-inspect.ts';

const H = 3600_000;
const T0 = Date.UTC(2024, 0, 1, 10);
let n = 0;
/** Readings of one fixed size (zero-padded ids, fixed padding), so byte bounds can be computed exactly. */
function reading(device = 'dev-1', at = T0 + 1000, pad = 0): Reading {
  const rid = `r-${String(++n).padStart(8, '0')}`;
  return { id: rid, device_id: device, group_id: 'g1', window: Math.floor(at / H) * H, received_at: at, doc: { device_id: device, group_id: 'g1', timestamp: new Date(at).toISOString(), status: 'online', n: rid, pad: 'x'.repeat(pad) } };
}
const many = (count: number, window: number, pad = 0): Reading[] => Array.from({ length: count }, (_, i) => reading(`d${i % 5}`, window + i, pad));

interface Rig { buffer: ReadingBuffer; metrics: Metrics; redis?: TestRedis; raw?: Redis }
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => { while (cleanups.length) await cleanups.pop()!(); });

async function rig(overrides: Record<string, unknown>, withRedis: boolean): Promise<Rig> {
  const tmp = tempDir('iotgw-retention-');
  const redis = withRedis ? await new TestRedis().start() : undefined;
  const config = loadConfig({ env: {}, overrides: { data_dir: tmp.path, 'redis.url': redis?.url ?? 'none', 'redis.write_timeout_ms': 2000, ...overrides } });
  const metrics = createMetrics({ defaultMetrics: false });
  const buffer = new ReadingBuffer({ config, log: pino({ level: 'silent' }), metrics });
  await buffer.open();
  const raw = redis ? new Redis(redis.url) : undefined;
  cleanups.push(async () => { raw?.disconnect(); await buffer.close(); await redis?.destroy(); tmp.cleanup(); });
  return { buffer, metrics, redis, raw };
}

async function ids(store: ReadingStore, window: number): Promise<string[]> {
  const out: string[] = [];
  let after: string | null = null;
  do {
    const page = await store.readWindow(window, after, 700);
    out.push(...page.readings.map((r) => r.id));
    after = page.next;
  } while (after !== null);
  return out;
}
const dropped = async (m: Metrics, reason: string): Promise<number> => (await m.readingsDropped.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;

describe('consolidation', () => {
  test('Redis window into SQLite exactly once, also after a crash between copy and delete', async () => {
    const { buffer, raw } = await rig({}, true);
    const { sqlite, redis } = buffer.stores;
    const rs = many(2500, T0);
    assert.equal((await buffer.append(rs)).store, 'redis');
    await sqlite.append(rs.slice(100, 300)); // held by both stores (a Redis write that timed out but applied)
    // crash after the first page was committed to SQLite, before Redis was trimmed
    const realDelete = redis!.deleteWindow.bind(redis);
    redis!.deleteWindow = async () => { throw new Error('crash'); };
    await assert.rejects(buffer.consolidate(T0), /crash/);
    redis!.deleteWindow = realDelete;
    assert.equal((await ids(redis!, T0)).length, 2500);
    const res = await buffer.consolidate(T0);
    assert.equal(res.copied, 2500);
    assert.equal(res.removed, 2500);
    assert.deepEqual((await ids(sqlite, T0)).sort(), rs.map((r) => r.id).sort()); // store order, not time order
    assert.equal(await raw!.exists(`iotgw:l:${T0}`, `iotgw:ids:${T0}`), 0);
    assert.deepEqual((await buffer.listWindows()).map((w) => [w.store, w.count]), [['sqlite', 2500]]);
    assert.deepEqual(await buffer.consolidate(T0), { copied: 0, added: 0, removed: 0 });
  });

  test('the lock serializes maintenance behind an uploader pass and is re-entrant', async () => {
    const { buffer } = await rig({}, true);
    await buffer.append(many(10, T0));
    let release!: () => void;
    let holding!: () => void;
    const held = new Promise<void>((r) => { holding = r; });
    const order: string[] = [];
    const pass = buffer.exclusive(async () => {
      order.push('pass start');
      await buffer.consolidate(T0); // re-entrant: no deadlock
      await new Promise<void>((r) => { release = r; holding(); });
      order.push('pass end');
    });
    // Wait for the pass to hold the lock past its consolidate: a fixed sleep raced it on a loaded
    // machine, and a release() called too early left the pass (and the close after it) waiting forever.
    await held;
    const maint = buffer.maintain(T0 + 100 * H).then(() => order.push('maintenance'));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(order, ['pass start']);
    release();
    await Promise.all([pass, maint]);
    assert.deepEqual(order, ['pass start', 'pass end', 'maintenance']);
  });
});

describe('spill', () => {
  test('closed Redis windows older than spill_after move to SQLite and their keys disappear', async () => {
    const { buffer, raw, metrics } = await rig({ 'buffer.spill_after_seconds': 3600 }, true);
    const sets = [many(30, T0), many(20, T0 + H), many(10, T0 + 2 * H)];
    for (const s of sets) await buffer.append(s);
    const report = await buffer.maintain(T0 + 3 * H + 1);
    assert.deepEqual(report.spilled, [{ window: T0, readings: 30 }, { window: T0 + H, readings: 20 }]);
    assert.deepEqual(report.dropped, []);
    assert.deepEqual((await buffer.listWindows()).map((w) => [w.store, w.window, w.count]), [['sqlite', T0, 30], ['sqlite', T0 + H, 20], ['redis', T0 + 2 * H, 10]]);
    for (const w of [T0, T0 + H]) {
      assert.equal(await raw!.exists(`iotgw:l:${w}`, `iotgw:ids:${w}`), 0);
      assert.equal(await raw!.zscore('iotgw:windows', String(w)), null);
      assert.equal(await raw!.hexists('iotgw:wbytes', String(w)), 0);
    }
    assert.deepEqual(await ids(buffer.stores.sqlite, T0), sets[0].map((r) => r.id));
    assert.equal(await dropped(metrics, 'max_age') + await dropped(metrics, 'max_bytes'), 0);
    const gauge = async (store: string) => (await metrics.bufferReadings.get()).values.find((v) => v.labels.store === store)?.value;
    assert.equal(await gauge('sqlite'), 50);
    assert.equal(await gauge('redis'), 10);
    assert.equal((await metrics.bufferWindows.get()).values.find((v) => v.labels.store === 'redis')?.value, 1);
  });
});

describe('bounds', () => {
  test('max_age drops whole windows that ended before the bound, counted exactly', async () => {
    const { buffer, metrics } = await rig({ 'buffer.max_age_seconds': 7200 }, false);
    for (const [i, c] of [[0, 7], [1, 5], [2, 3]]) await buffer.append(many(c, T0 + i * H));
    const report = await buffer.maintain(T0 + 3 * H + 1);
    assert.deepEqual(report.dropped, [{ store: 'sqlite', window: T0, readings: 7, reason: 'max_age' }]);
    assert.equal(await dropped(metrics, 'max_age'), 7);
    assert.deepEqual((await buffer.listWindows()).map((w) => w.window), [T0 + H, T0 + 2 * H]);
    await buffer.maintain(T0 + 3 * H + 2);
    assert.equal(await dropped(metrics, 'max_age'), 7);
  });

  test('max_bytes drops the oldest window whole, then the oldest part of the next, counted exactly', async () => {
    const { buffer, metrics } = await rig({ 'buffer.max_bytes': 1024 * 1024 }, false);
    const sets = [0, 1, 2, 3].map((i) => many(400, T0 + i * H, 1000));
    for (const s of sets) await buffer.append(s);
    const size = Buffer.byteLength(JSON.stringify(sets[0][0].doc));
    assert.ok(sets.flat().every((r) => Buffer.byteLength(JSON.stringify(r.doc)) === size));
    const excess = 1600 * size - 1024 * 1024;
    const partial = Math.ceil((excess - 400 * size) / size);
    assert.ok(partial > 0 && partial < 400);
    const report = await buffer.maintain(T0 + 4 * H);
    assert.deepEqual(report.dropped.map((d) => [d.window, d.readings]), [[T0, 400], [T0 + H, partial]]);
    assert.equal(await dropped(metrics, 'max_bytes'), 400 + partial);
    assert.deepEqual(await ids(buffer.stores.sqlite, T0 + H), sets[1].slice(partial).map((r) => r.id));
    const windows = await buffer.listWindows();
    assert.deepEqual(windows.map((w) => w.count), [400 - partial, 400, 400]);
    assert.ok(windows.reduce((s, w) => s + w.bytes, 0) <= 1024 * 1024);
    await buffer.maintain(T0 + 4 * H);
    assert.equal(await dropped(metrics, 'max_bytes'), 400 + partial);
  });

  test('max_bytes counts both stores and drops the oldest first, whichever store holds it', async () => {
    const { buffer, metrics, raw } = await rig({ 'buffer.max_bytes': 1024 * 1024, 'buffer.spill_after_seconds': 30 * 86400 }, true);
    const { sqlite } = buffer.stores;
    const a = many(500, T0, 1000);
    const b = many(500, T0 + H, 1000);
    const c = many(500, T0 + 2 * H, 1000);
    await sqlite.append(a);
    assert.equal((await buffer.append(b)).store, 'redis');
    await sqlite.append(c);
    const before = await buffer.listWindows();
    assert.deepEqual(before.map((w) => w.store), ['sqlite', 'redis', 'sqlite']);
    const total = before.reduce((s, w) => s + w.bytes, 0);
    assert.ok(total - before[0].bytes - before[1].bytes < 1024 * 1024 && total - before[0].bytes > 1024 * 1024);
    const report = await buffer.maintain(T0 + 3 * H);
    assert.deepEqual(report.dropped.map((d) => [d.store, d.window, d.reason]), [['sqlite', T0, 'max_bytes'], ['redis', T0 + H, 'max_bytes']]);
    const partial = report.dropped[1].readings;
    assert.ok(partial > 0 && partial < 500);
    assert.equal(await dropped(metrics, 'max_bytes'), 500 + partial);
    assert.deepEqual(await ids(buffer.stores.redis!, T0 + H), b.slice(partial).map((r) => r.id));
    assert.equal(await redisWindowCount(raw!, T0 + H), 500 - partial);
    assert.deepEqual(await ids(sqlite, T0 + 2 * H), c.map((r) => r.id));
  });
});
