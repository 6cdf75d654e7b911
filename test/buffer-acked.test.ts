/**
 * The Buffer's acknowledged-record (issue 21 item 1) in-process, against a real SQLite file and a
 * real redis-server: retries after the local copy was deleted, the record reloaded from each
 * store, a write no store took leaves no claim, concurrent identical appends store once.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Buffer as ReadingBuffer } from '../gateway/buffer/buffer.ts';
import { createMetrics } from '../gateway/metrics.ts';
import { loadConfig } from '../gateway/config.ts';
import type { Reading } from '../gateway/reading.ts';
import { TestRedis } from './support/redis.ts';
import { tempDir, waitFor } from './support/ports.ts';
import { readAll } from './support/read-window.ts';

const H = 3600_000;
const T0 = Date.UTC(2026, 11, 5, 2);

function keyed(device: string, boot: string, seq: number, at = T0 + seq): Reading {
  return {
    id: `dev:${device}/${boot}/${seq}`,
    device_id: device,
    group_id: 'g1',
    window: Math.floor(at / H) * H,
    received_at: at,
    doc: { device_id: device, group_id: 'g1', boot_id: boot, seq, timestamp: new Date(at).toISOString(), status: 'online' },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => { while (cleanups.length) await cleanups.pop()!(); });

async function openBuffer(dataDir: string, redisUrl: string, overrides: Record<string, unknown> = {}): Promise<ReadingBuffer> {
  const config = loadConfig({ env: {}, overrides: { data_dir: dataDir, 'redis.url': redisUrl, 'redis.write_timeout_ms': 300, 'redis.health_interval_ms': 50, ...overrides } });
  const buffer = new ReadingBuffer({ config, log: pino({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }) });
  await buffer.open();
  return buffer;
}

/** Deletes every window of both stores, as an upload does once Atlas has the readings. */
async function uploadAndDelete(buffer: ReadingBuffer): Promise<number> {
  let n = 0;
  for (const w of await buffer.listWindows()) {
    const rs = await readAll(buffer.store(w.store), w.window, 1000);
    n += await buffer.store(w.store).deleteWindow(w.window, rs[rs.length - 1].pos);
  }
  return n;
}

for (const mode of ['sqlite', 'redis'] as const) {
  test(`${mode}: a retry after the local copy was deleted is a duplicate, also after a restart`, async () => {
    const dir = tempDir('iotgw-acked-');
    const redis = mode === 'redis' ? await new TestRedis({ appendonly: true }).start() : null;
    cleanups.push(async () => { await redis?.destroy(); dir.cleanup(); });
    let buffer = await openBuffer(dir.path, redis?.url ?? 'none');
    const first = Array.from({ length: 20 }, (_, s) => keyed('esp-1', 'b1', s));
    assert.deepEqual(await buffer.append(first), { stored: 20, duplicates: 0, store: mode });
    assert.equal(await uploadAndDelete(buffer), 20);
    assert.deepEqual(await buffer.listWindows(), []);
    const retry = await buffer.append([...first.slice(10), keyed('esp-1', 'b1', 20), keyed('esp-1', 'b1', 7, T0 + 5 * H)]);
    assert.deepEqual(retry, { stored: 1, duplicates: 11, store: mode }, 'ten retried, one new, one retried into another hour');
    await buffer.close();

    buffer = await openBuffer(dir.path, redis?.url ?? 'none');
    cleanups.push(() => buffer.close());
    const again = await buffer.append([keyed('esp-1', 'b1', 3), keyed('esp-1', 'b1', 20), keyed('esp-1', 'b2', 0), { ...keyed('esp-1', 'b1', 3), id: 'rcv:x/0' }]);
    assert.deepEqual(again, { stored: 2, duplicates: 2, store: mode }, 'the record came back from the store; a new boot and a reading without seq are new');
  });
}

test('the record a store loads never claims a reading no store took (Redis down, no fallback)', async () => {
  const dir = tempDir('iotgw-acked-');
  const redis = await new TestRedis({ appendonly: true }).start();
  cleanups.push(async () => { await redis.destroy(); dir.cleanup(); });
  let buffer = await openBuffer(dir.path, redis.url, { 'redis.sqlite_fallback': false });
  await buffer.append([keyed('esp-1', 'b1', 0)]);
  redis.pause();
  await assert.rejects(buffer.append([keyed('esp-1', 'b1', 1)]));
  await buffer.close();
  await redis.kill(); // the paused Redis never ran the write
  await redis.start();
  buffer = await openBuffer(dir.path, redis.url, { 'redis.sqlite_fallback': false });
  cleanups.push(() => buffer.close());
  await waitFor(() => buffer.mode === 'redis' || null, 10_000, 'intake on Redis');
  assert.deepEqual(await buffer.append([keyed('esp-1', 'b1', 1)]), { stored: 1, duplicates: 0, store: 'redis' }, 'the retry is stored, not refused');
  assert.deepEqual(await buffer.append([keyed('esp-1', 'b1', 0)]), { stored: 0, duplicates: 1, store: 'redis' });
});

test('Redis records reach SQLite at a failover: a restart while Redis is down still knows them', async () => {
  const dir = tempDir('iotgw-acked-');
  const redis = await new TestRedis({ appendonly: true }).start();
  cleanups.push(async () => { await redis.destroy(); dir.cleanup(); });
  let buffer = await openBuffer(dir.path, redis.url, { 'sqlite.latest_every_ms': 600_000 });
  assert.equal((await buffer.append(Array.from({ length: 5 }, (_, s) => keyed('esp-1', 'b1', s)))).store, 'redis');
  await redis.stop();
  await waitFor(() => buffer.mode === 'sqlite' || null, 10_000, 'intake on SQLite');
  await buffer.close();
  buffer = await openBuffer(dir.path, redis.url, { 'sqlite.latest_every_ms': 600_000 });
  cleanups.push(() => buffer.close());
  assert.equal(buffer.mode, 'sqlite');
  assert.deepEqual(await buffer.append([keyed('esp-1', 'b1', 4), keyed('esp-1', 'b1', 5)]), { stored: 1, duplicates: 1, store: 'sqlite' });
});

test('concurrent appends of the same readings store them once; the later ones are duplicates', async () => {
  const dir = tempDir('iotgw-acked-');
  cleanups.push(async () => dir.cleanup());
  const buffer = await openBuffer(dir.path, 'none');
  cleanups.push(() => buffer.close());
  const batch = Array.from({ length: 10 }, (_, s) => keyed('esp-1', 'b1', s));
  const results = await Promise.all([0, 1, 2].map(() => buffer.append(batch.map((r) => ({ ...r })))));
  assert.deepEqual(results.map((r) => r.stored).sort(), [0, 0, 10]);
  assert.deepEqual(results.map((r) => r.duplicates).sort(), [0, 10, 10]);
  const [w] = await buffer.listWindows();
  assert.equal(w.count, 10);
});
