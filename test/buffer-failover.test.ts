import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Buffer as ReadingBuffer, type AppendResult } from '../gateway/buffer/buffer.ts';
import type { ReadingStore } from '../gateway/buffer/store.ts';
import { createMetrics, type Metrics } from '../gateway/metrics.ts';
import { loadConfig } from '../gateway/config.ts';
import { schema } from '../gateway/config-schema.ts';
import type { Reading } from '../gateway/reading.ts';
import { TestRedis } from './support/redis.ts';
import { sleep, tempDir, waitFor } from './support/ports.ts';
import { readAll } from './support/read-window.ts';

const H = 3600_000;
const T0 = Date.UTC(2024, 0, 1, 10);
let n = 0;
function reading(device = 'dev-1', at = T0 + 1000): Reading {
  const rid = `r-${++n}`;
  return { id: rid, device_id: device, group_id: 'g1', window: Math.floor(at / H) * H, received_at: at, doc: { device_id: device, group_id: 'g1', timestamp: new Date(at).toISOString(), status: 'online', n: rid } };
}

interface Rig { buffer: ReadingBuffer; redis: TestRedis; metrics: Metrics; logs: { level: number; msg: string }[]; cleanup(): Promise<void> }
const rigs: Rig[] = [];
afterEach(async () => { while (rigs.length) await rigs.pop()!.cleanup(); });

async function rig(opts: { startRedis?: boolean; overrides?: Record<string, unknown> } = {}): Promise<Rig> {
  const redis = new TestRedis({ appendonly: true });
  if (opts.startRedis !== false) await redis.start();
  else { const { freePort } = await import('./support/ports.ts'); redis.port = await freePort(); }
  const tmp = tempDir('iotgw-failover-');
  const logs: { level: number; msg: string }[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => { logs.push(JSON.parse(s)); } });
  const config = loadConfig({ env: {}, overrides: { data_dir: tmp.path, 'redis.url': redis.url, 'redis.write_timeout_ms': 200, 'redis.health_interval_ms': 50, ...opts.overrides } });
  const metrics = createMetrics({ defaultMetrics: false });
  const buffer = new ReadingBuffer({ config, log, metrics });
  await buffer.open();
  const r: Rig = { buffer, redis, metrics, logs, cleanup: async () => { redis.resume(); await buffer.close(); await redis.destroy(); tmp.cleanup(); } };
  rigs.push(r);
  return r;
}

async function ids(store: ReadingStore, window: number): Promise<string[]> {
  return (await readAll(store, window, 500)).map((r) => r.id);
}

/** Every expected id exactly once over both stores, after consolidating windows held by both. */
async function assertExactlyOnce(buffer: ReadingBuffer, expected: string[]): Promise<void> {
  const windows = await buffer.listWindows();
  for (const w of new Set(windows.map((x) => x.window))) {
    if (windows.filter((x) => x.window === w).length > 1) await buffer.consolidate(w);
  }
  const all: string[] = [];
  for (const w of await buffer.listWindows()) all.push(...(await ids(buffer.store(w.store), w.window)));
  const counts = new Map<string, number>();
  for (const id of all) counts.set(id, (counts.get(id) ?? 0) + 1);
  const dupes = [...counts].filter(([, c]) => c > 1);
  assert.deepEqual(dupes, [], 'readings stored twice');
  assert.deepEqual([...counts.keys()].sort(), [...expected].sort());
}

const failovers = async (m: Metrics, to: string): Promise<number> => (await m.storeFailovers.get()).values.find((v) => v.labels.to === to)?.value ?? 0;

describe('Buffer failover', () => {
  test('Redis killed during a steady stream: every append resolves, each reading stored once, intake returns to Redis', async () => {
    const { buffer, redis, metrics } = await rig();
    assert.equal(buffer.mode, 'redis');
    const sent: string[] = [];
    const results: Promise<AppendResult>[] = [];
    const stores = new Set<string>();
    let killed: Promise<void> = Promise.resolve();
    for (let i = 0; i < 600; i++) {
      if (i === 150) killed = redis.kill();
      if (i === 350) { await killed; await redis.start(); }
      const batch = [reading(`d${i % 7}`, T0 + i * 10), reading(`d${(i + 3) % 7}`, T0 + H + i * 10)];
      sent.push(...batch.map((r) => r.id));
      const p = buffer.append(batch);
      void p.then((res) => stores.add(res.store), () => undefined);
      results.push(p);
      if (i % 4 === 0) await sleep(2);
    }
    const settled = await Promise.allSettled(results);
    assert.deepEqual(settled.filter((s) => s.status === 'rejected'), []);
    assert.ok(stores.has('sqlite') && stores.has('redis'));
    await waitFor(() => buffer.mode === 'redis', 15000, 'intake back on Redis');
    const after = [reading('back', T0 + 5), reading('back', T0 + H + 5)];
    sent.push(...after.map((r) => r.id));
    assert.equal((await buffer.append(after)).store, 'redis');
    assert.ok((await failovers(metrics, 'sqlite')) >= 1);
    assert.ok((await failovers(metrics, 'redis')) >= 1);
    assert.equal((await metrics.storeMode.get()).values.find((v) => v.labels.store === 'redis')?.value, 1);
    await assertExactlyOnce(buffer, sent);
  });

  test('Redis paused (SIGSTOP): writes time out to SQLite, reads do not hang, intake returns after SIGCONT', async () => {
    const { buffer, redis, logs } = await rig();
    const sent: Reading[] = [reading('p', T0)];
    assert.equal((await buffer.append([sent[0]])).store, 'redis');
    redis.pause();
    const during = Array.from({ length: 20 }, (_, i) => reading('p', T0 + 10 + i));
    sent.push(...during);
    const res = await Promise.all(during.map((r) => buffer.append([r])));
    assert.ok(res.every((x) => x.store === 'sqlite' && x.stored === 1));
    assert.equal(buffer.mode, 'sqlite');
    assert.deepEqual((await buffer.listWindows()).map((w) => w.store), ['sqlite']);
    assert.equal((await buffer.latestPerDevice())[0].device_id, 'p');
    assert.equal(logs.filter((l) => /switched to SQLite/.test(l.msg)).length, 1);
    redis.resume();
    await waitFor(() => buffer.mode === 'redis', 15000, 'intake back on Redis');
    assert.equal(logs.filter((l) => /switched back to Redis/.test(l.msg)).length, 1);
    const late = reading('p', T0 + 100);
    sent.push(late);
    assert.equal((await buffer.append([late])).store, 'redis');
    // the timed-out writes were applied late by Redis: both stores hold them, consolidation keeps one
    assert.deepEqual((await buffer.listWindows()).map((w) => w.store), ['redis', 'sqlite']);
    await assertExactlyOnce(buffer, sent.map((r) => r.id));
  });

  test('Redis down at start: SQLite mode with one warning, then Redis once it answers', async () => {
    const { buffer, redis, logs } = await rig({ startRedis: false });
    assert.equal(buffer.mode, 'sqlite');
    assert.equal((await buffer.append([reading('s', T0)])).store, 'sqlite');
    await sleep(200);
    const unreachable = () => logs.filter((l) => l.level === 40 && /Redis is not reachable/.test(l.msg)).length;
    assert.equal(unreachable(), 1);
    await redis.start();
    await waitFor(() => buffer.mode === 'redis', 15000, 'intake on Redis');
    assert.equal((await buffer.append([reading('s', T0 + 1)])).store, 'redis');
    assert.equal(unreachable(), 1);
    const latest = await buffer.latestPerDevice();
    assert.equal(latest.length, 1);
    assert.equal(latest[0].timestamp, new Date(T0 + 1).toISOString());
    assert.equal((await buffer.deviceReadings('s', { limit: 10 })).length, 2);
  });

  test('with redis.sqlite_fallback off, a Redis outage rejects appends instead of writing SQLite', async (t) => {
    if (!('sqlite_fallback' in schema.redis)) return t.skip('config has no redis.sqlite_fallback yet');
    const { buffer, redis } = await rig({ overrides: { 'redis.sqlite_fallback': false } });
    assert.equal((await buffer.append([reading('nf', T0)])).store, 'redis');
    await redis.kill();
    await assert.rejects(buffer.append([reading('nf', T0 + 1)]));
    await assert.rejects(buffer.append([reading('nf', T0 + 2)]));
    await assert.rejects(buffer.ping());
    assert.deepEqual((await buffer.listWindows()).map((w) => w.store), []);
    await redis.start();
    await waitFor(() => buffer.mode === 'redis', 15000, 'intake back on Redis');
    assert.equal((await buffer.append([reading('nf', T0 + 3)])).store, 'redis');
    await buffer.ping();
  });
});

describe('a Redis write that timed out but applied anyway', () => {
  test('is not uploaded twice: its SQLite copy counts, and Redis skips its own once it is back', async () => {
    const { buffer, redis, logs } = await rig();
    const first = reading('dev-a');
    assert.equal((await buffer.append([first])).store, 'redis');
    // Paused, Redis keeps the next write in its socket: we time out and fail over, and it applies
    // the write when it resumes, with no one waiting for the answer.
    redis.pause();
    const batch = [reading('dev-a'), reading('dev-b'), reading('dev-c')];
    assert.equal((await buffer.append(batch)).store, 'sqlite');
    // While Redis is away, that window's SQLite copy is uploaded and deleted.
    assert.equal(await buffer.stores.sqlite.dropWindow(first.window), batch.length);
    redis.resume();
    await waitFor(() => buffer.mode === 'redis', 15000, 'intake back on Redis');
    // The write did reach Redis (the case under test really happened) ...
    for (const r of batch) assert.equal(await redis.command('SISMEMBER', `iotgw:ids:${r.window}`, r.id), ':1', `${r.id} applied in Redis`);
    // ... yet only the reading Redis acknowledged is there to upload.
    assert.deepEqual(await ids(buffer.store('redis'), first.window), [first.id]);
    assert.ok(logs.some((l) => /did not acknowledge/.test(l.msg)), 'logged once');
    // A later retry of one of them is still recognised as a duplicate in Redis.
    assert.equal((await buffer.append([batch[0]])).duplicates, 1);
    // And deleting the window cleans the dead set with it.
    await buffer.stores.redis!.dropWindow(first.window);
    assert.equal(await redis.command('EXISTS', `iotgw:dead:${first.window}`), ':0');
  });
});
