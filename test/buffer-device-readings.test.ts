import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Buffer as ReadingBuffer } from '../gateway/buffer/buffer.ts';
import { createMetrics } from '../gateway/metrics.ts';
import { loadConfig } from '../gateway/config.ts';
import type { Reading, ReadingDoc } from '../gateway/reading.ts';
import { TestRedis } from './support/redis.ts';
import { tempDir } from './support/ports.ts';

const H = 3600_000;
const T0 = Math.floor(Date.now() / H) * H - 3 * H;
const DEVICES = 300;
const TOTAL = 100_000;

/**
 * 100,000 readings of 300 devices over two windows, in requests of 50 as a relay sends them, the
 * device's ids as boards make them. `target` is device 7: its first reading comes first of all,
 * then 25,000 readings of the others (the case: the old scan budget saw none of it).
 */
function fleet(): Reading[][] {
  const out: Reading[][] = [];
  let batch: Reading[] = [];
  for (let i = 0; i < TOTAL; i++) {
    const d = i < 25_001 ? (i === 0 ? 7 : 8 + (i % (DEVICES - 8))) : i % DEVICES;
    const device = `dev-${d}`;
    const window = i < TOTAL / 2 ? T0 : T0 + H;
    const at = window + Math.floor(((i % (TOTAL / 2)) / (TOTAL / 2)) * (H - 1000));
    batch.push({ id: `dev:${device}/b1/${i}`, device_id: device, group_id: 'g', window, received_at: at, doc: { device_id: device, group_id: 'g', i } as never });
    if (batch.length === 50) { out.push(batch); batch = []; }
  }
  if (batch.length) out.push(batch);
  return out;
}

async function pages(buffer: ReadingBuffer, device: string, q: { from?: number; to?: number }, limit: number): Promise<{ docs: ReadingDoc[]; pages: number }> {
  const docs: ReadingDoc[] = [];
  let cursor: string | undefined;
  let n = 0;
  for (;;) {
    const page = await buffer.deviceReadingsPage(device, { ...q, limit, cursor });
    n++;
    assert.ok(page.readings.length <= limit);
    docs.push(...page.readings);
    if (page.next === null) return { docs, pages: n };
    assert.equal(page.readings.length, limit, 'a page short of the limit is the last one');
    cursor = page.next;
  }
}

for (const mode of ['sqlite', 'redis'] as const) {
  test(`${mode}: a device's readings from the older of two windows come back complete, paged with the cursor`, async () => {
    const tmp = tempDir(`iotgw-devread-${mode}-`);
    const redis = mode === 'redis' ? await new TestRedis({ appendonly: true }).start() : null;
    const config = loadConfig({ env: {}, overrides: { data_dir: tmp.path, redis: { url: redis?.url ?? 'none' } } as never });
    const buffer = new ReadingBuffer({ config, log: pino({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }) });
    try {
      await buffer.open();
      assert.equal(buffer.mode, mode);
      const batches = fleet();
      for (let i = 0; i < batches.length; i += 20) await Promise.all(batches.slice(i, i + 20).map((b) => buffer.append(b)));
      assert.equal((await buffer.listWindows()).reduce((s, w) => s + w.count, 0), TOTAL);
      const all = batches.flat();
      const expect = (device: string, from: number, to: number) => all.filter((r) => r.device_id === device && r.received_at >= from && r.received_at <= to)
        .sort((a, b) => b.received_at - a.received_at || (a.id < b.id ? 1 : -1)).map((r) => (r.doc as unknown as { i: number }).i);

      // The case: one reading of target, then 25,000 of others; it is found.
      const first = await buffer.deviceReadingsPage('dev-7', { limit: 1, from: T0, to: T0 });
      assert.deepEqual(first.readings.map((d) => (d as unknown as { i: number }).i), [0]);
      assert.equal(first.next, null);

      for (const device of ['dev-7', 'dev-123']) {
        const want = expect(device, T0, T0 + H - 1);
        assert.ok(want.length > 50, `${device} has ${want.length} readings in the older window`);
        const got = await pages(buffer, device, { from: T0, to: T0 + H - 1 }, 37);
        assert.deepEqual(got.docs.map((d) => (d as unknown as { i: number }).i), want, `${device}: every reading of the older window once, newest first`);
        assert.equal(got.pages, Math.ceil(want.length / 37) + (want.length % 37 === 0 ? 1 : 0));
      }
      // Over both windows without bounds: still complete.
      const both = await pages(buffer, 'dev-123', {}, 100);
      assert.deepEqual(both.docs.map((d) => (d as unknown as { i: number }).i), expect('dev-123', -Infinity, Infinity));
      await assert.rejects(buffer.deviceReadingsPage('dev-1', { limit: 5, cursor: 'not-a-cursor' }), /cursor/);
    } finally {
      await buffer.close();
      await redis?.destroy();
      tmp.cleanup();
    }
  });
}
