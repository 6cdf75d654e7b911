import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, postJson, getJson } from './support/in-process.ts';

let gw: Awaited<ReturnType<typeof startGateway>>;
before(async () => { gw = await startGateway({}); });
after(async () => { await gw?.stop(); });

test('GET /devices/:id/readings pages past limit with next/cursor, complete and newest first', async () => {
  const mine = Array.from({ length: 12 }, (_, i) => ({ device_id: 'pager', group_id: 'g', boot_id: 'b', seq: i }));
  const others = Array.from({ length: 40 }, (_, i) => ({ device_id: `other-${i % 7}`, group_id: 'g', boot_id: 'b', seq: i }));
  for (let i = 0; i < 4; i++) assert.equal((await postJson(`${gw.url}/telemetry`, [...mine.slice(i * 3, i * 3 + 3), ...others.slice(i * 10, i * 10 + 10)])).status, 202);
  const seen: number[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res = await getJson(`${gw.url}/devices/pager/readings?limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.count, res.body.readings.length);
    seen.push(...res.body.readings.map((r: { seq: number }) => r.seq));
    cursor = res.body.next;
    pages++;
  } while (cursor !== null);
  assert.equal(pages, 3);
  assert.deepEqual([...seen].sort((a, b) => a - b), mine.map((r) => r.seq), 'every reading once');
  const res = await getJson(`${gw.url}/devices/pager/readings?limit=5&cursor=bm90LWEtY3Vyc29y`);
  assert.equal(res.status, 400);
  assert.equal(res.body.error.code, 'invalid_query');
  assert.equal(res.body.error.path, 'cursor');
});
