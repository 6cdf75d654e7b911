/**
 * The limits of docs/reliability.md's table, each hit once by a client and seen in
 * `iotgw_limit_hits_total{limit}` under its config key (the refusals also by code in
 * `iotgw_readings_rejected_total{reason}`).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { startGateway, postJson, getJson } from './support/in-process.ts';
import { rawRequest } from './support/raw-http.ts';

const gateways: Awaited<ReturnType<typeof startGateway>>[] = [];
after(async () => { for (const g of gateways) await g.stop(); });

async function gateway(overrides: Record<string, unknown>) {
  const g = await startGateway(overrides);
  gateways.push(g);
  return g;
}

async function hits(url: string, limit: string): Promise<number> {
  const text = String((await getJson(`${url}/metrics`)).body);
  const m = new RegExp(`iotgw_limit_hits_total\\{limit="${limit.replace(/\./g, '\\.')}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

test('per-address rate limit: 429 with Retry-After past its burst, whatever device ids the address uses', async () => {
  const g = await gateway({ 'ingest.rate_limit.per_device_per_second': 0, 'ingest.rate_limit.per_address_per_second': 1, 'ingest.rate_limit.per_address_burst': 5 });
  const batch = Array.from({ length: 5 }, (_, i) => ({ device_id: `addr-${i}`, group_id: 'g' }));
  assert.equal((await postJson(`${g.url}/telemetry`, batch)).status, 202);
  const limited = await postJson(`${g.url}/telemetry`, { device_id: 'addr-new', group_id: 'g' });
  assert.equal(limited.status, 429);
  assert.equal(limited.body.error.code, 'address_rate_limited');
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  assert.equal(await hits(g.url, 'ingest.rate_limit.per_address_per_second'), 1);
});

test('string length, batch and metric limits count under their config keys', async () => {
  const g = await gateway({ 'ingest.max_string_length': 16, 'ingest.max_batch': 2, 'ingest.max_metrics': 2 });
  assert.equal((await postJson(`${g.url}/telemetry`, { device_id: 'd', group_id: 'g', note: 'x'.repeat(17) })).body.error.code, 'value_too_long');
  assert.equal((await postJson(`${g.url}/telemetry`, [{ device_id: 'd', group_id: 'g' }, { device_id: 'd', group_id: 'g' }, { device_id: 'd', group_id: 'g' }])).status, 413);
  assert.equal((await postJson(`${g.url}/telemetry`, { device_id: 'd', group_id: 'g', a: 1, b: 2, c: 3 })).body.error.code, 'too_many_metrics');
  assert.equal(await hits(g.url, 'ingest.max_string_length'), 1);
  assert.equal(await hits(g.url, 'ingest.max_batch'), 1);
  assert.equal(await hits(g.url, 'ingest.max_metrics'), 1);
});

test('max connections: a connection past the limit is closed at once and counted', async () => {
  const g = await gateway({ 'http.max_connections': 2 });
  const open = await Promise.all([0, 1].map(() => new Promise<import('node:net').Socket>((resolve) => { const s = connect(g.gw.port, '127.0.0.1', () => resolve(s)); })));
  const third = await rawRequest(g.gw.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', undefined, 10_000);
  assert.equal(third, '', 'closed without an answer');
  for (const s of open) s.destroy();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await hits(g.url, 'http.max_connections'), 1);
});

test('WebSocket: a message past the body limit closes with 1009 and counts; max_in_flight pauses and counts', async () => {
  const g = await gateway({ 'http.body_limit_bytes': 4096, 'ingest.ws.max_in_flight': 1, 'ingest.rate_limit.per_device_per_second': 0 });
  const ws = new WebSocket(`ws://127.0.0.1:${g.gw.port}/ws`);
  await new Promise((r) => ws.once('open', r));
  const acks: unknown[] = [];
  ws.on('message', (d) => acks.push(JSON.parse(String(d))));
  for (let seq = 0; seq < 5; seq++) ws.send(JSON.stringify({ device_id: 'ws-lim', group_id: 'g', seq }));
  while (acks.length < 5) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(acks.map((a: any) => a.ack), [0, 1, 2, 3, 4], 'paused, not refused: every message acked in order');
  assert.ok(await hits(g.url, 'ingest.ws.max_in_flight') >= 1);
  const code = await new Promise<number>((resolve) => {
    ws.once('close', (c) => resolve(c));
    ws.send(JSON.stringify({ device_id: 'ws-lim', group_id: 'g', pad: 'x'.repeat(5000) }));
  });
  assert.equal(code, 1009);
  assert.equal(await hits(g.url, 'http.body_limit_bytes'), 1);
});

test('a client that sends its headers too slowly is cut off and counted', async () => {
  const g = await gateway({ 'http.headers_timeout_ms': 300, 'http.request_timeout_ms': 20000 });
  const answer = await rawRequest(g.gw.port, 'POST /telemetry HTTP/1.1\r\nHost: x\r\n', undefined, 30_000);
  assert.match(answer, /^HTTP\/1\.1 408 /, 'a 408 long before the 20 s request timeout, whose idle timer would close it silently');
  assert.equal(await hits(g.url, 'http.request_timeout_ms'), 1);
});
