import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startGateway, postJson, getJson } from './support/in-process.ts';
import { ORIGINAL_SKETCH_READING } from './support/payloads.ts';

let gw: Awaited<ReturnType<typeof startGateway>>;
const url = (p: string) => gw.url + p;

before(async () => {
  gw = await startGateway({ 'ingest.max_batch': 50, 'http.body_limit_bytes': 4096, 'http.headers_timeout_ms': 500, 'http.request_timeout_ms': 1000 });
});
after(async () => { await gw?.stop(); });

function assertError(res: { status: number; body: any }, status: number, code: string, path?: string) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error.code, code, JSON.stringify(res.body));
  assert.equal(typeof res.body.error.message, 'string');
  if (path !== undefined) assert.equal(res.body.error.path, path);
  assert.doesNotMatch(JSON.stringify(res.body), /at .*\.ts:\d+|node_modules|Error:/, 'no stack trace or internal message');
}

test('the original sketch payload is accepted with 202 and returned by GET /redis with every field', async () => {
  const res = await postJson(url('/telemetry'), ORIGINAL_SKETCH_READING);
  assert.equal(res.status, 202);
  assert.deepEqual(res.body, { accepted: 1, duplicates: 0 });
  const cache = await getJson(url('/redis'));
  assert.equal(cache.body.status, 'success');
  const mine = cache.body.devices.find((d: any) => d.device_id === ORIGINAL_SKETCH_READING.device_id);
  assert.ok(mine, 'device listed');
  for (const [k, v] of Object.entries(ORIGINAL_SKETCH_READING)) assert.deepEqual(mine[k], v, k);
  assert.equal(mine.status, 'online');
  assert.ok(!Number.isNaN(Date.parse(mine.timestamp)));
  assert.equal(cache.body.count, cache.body.devices.length);
});

test('POST /health is the original alias of /telemetry; GET /health answers ok', async () => {
  const res = await postJson(url('/health'), { device_id: 'alias-1', group_id: 'g1', v: 1 });
  assert.equal(res.status, 202);
  assert.deepEqual((await getJson(url('/health'))).body, { status: 'ok' });
});

test('batches as an array and as {readings}; a retried reading with boot_id+seq is stored once', async () => {
  const batch = Array.from({ length: 5 }, (_, i) => ({ device_id: 'batcher', group_id: 'g2', boot_id: 'b1', seq: i, v: i }));
  assert.deepEqual((await postJson(url('/telemetry'), batch)).body, { accepted: 5, duplicates: 0 });
  assert.deepEqual((await postJson(url('/telemetry'), { readings: batch })).body, { accepted: 5, duplicates: 5 });
  const r = await getJson(url('/devices/batcher/readings?limit=100'));
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.readings.map((x: any) => x.seq).sort(), [0, 1, 2, 3, 4]);
});

test('bad input gets 400 naming the field, and nothing of a bad batch is stored', async () => {
  assertError(await postJson(url('/telemetry'), '{"device_id": "x",'), 400, 'invalid_json');
  assertError(await postJson(url('/telemetry'), { group_id: 'g' }), 400, 'missing_field', 'device_id');
  assertError(await postJson(url('/telemetry'), { device_id: 'has space', group_id: 'g' }), 400, 'invalid_field', 'device_id');
  const bad = [{ device_id: 'atomic-1', group_id: 'g3' }, { device_id: 'atomic-2', group_id: 'g3' }, 'oops'];
  assertError(await postJson(url('/telemetry'), bad), 400, 'invalid_reading', '[2]');
  assertError(await postJson(url('/telemetry'), { readings: [{ device_id: 'atomic-3', group_id: 'g3' }, { device_id: 'atomic-4' }] }), 400, 'missing_field', 'readings[1].group_id');
  const devices = (await getJson(url('/redis'))).body.devices.map((d: any) => d.device_id);
  for (const id of ['atomic-1', 'atomic-2', 'atomic-3', 'atomic-4']) assert.ok(!devices.includes(id), `${id} must not be stored`);
  const deep = { device_id: 'd', group_id: 'g', a: { b: { c: { d: 1 } } } };
  assertError(await postJson(url('/telemetry'), deep), 400, 'too_deep', 'a.b.c');
});

test('wrong content type is 415, an oversize body 413, an oversize batch 413', async () => {
  const res = await fetch(url('/telemetry'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"device_id":"a","group_id":"b"}' });
  assertError({ status: res.status, body: await res.json() }, 415, 'unsupported_media_type');
  assertError(await postJson(url('/telemetry'), { device_id: 'big', group_id: 'g', pad: 'x'.repeat(5000) }), 413, 'body_too_large');
  const many = Array.from({ length: 51 }, (_, i) => ({ device_id: `m${i}`, group_id: 'g' }));
  assertError(await postJson(url('/telemetry'), many), 413, 'batch_too_large');
});

test('unknown routes are 404 JSON; unknown devices 404; bad query parameters 400 naming them', async () => {
  assertError(await getJson(url('/nope')), 404, 'not_found');
  assertError(await getJson(url('/devices/never-seen')), 404, 'not_found');
  assertError(await getJson(url('/devices/batcher/readings?limit=0')), 400, 'invalid_query', 'limit');
  assertError(await getJson(url('/devices/batcher/readings?from=yesterday')), 400, 'invalid_query', 'from');
});

test('a client that sends headers too slowly is cut off', async () => {
  const closed = await new Promise<string>((resolve) => {
    const sock = connect(gw.gw.port, '127.0.0.1', () => sock.write('POST /telemetry HTTP/1.1\r\nHost: x\r\n'));
    let data = '';
    sock.on('data', (d) => { data += d; });
    sock.on('close', () => resolve(data));
    sock.on('error', () => resolve(data));
  });
  assert.match(closed, /^$|408/, 'closed without a response, or with 408');
});

test('read API: /stats counts per group and device; /healthz, /readyz; /metrics is Prometheus text', async () => {
  await postJson(url('/telemetry'), [{ device_id: 's1', group_id: 'stats-g' }, { device_id: 's1', group_id: 'stats-g' }, { device_id: 's2', group_id: 'stats-g' }]);
  const stats = (await getJson(url('/stats'))).body;
  assert.equal(stats.traffic.current_hour.groups['stats-g'].count, 3);
  assert.deepEqual(stats.traffic.current_hour.groups['stats-g'].devices, { s1: 2, s2: 1 });
  assert.equal(stats.store.mode, 'sqlite');
  assert.equal((await getJson(url('/healthz'))).status, 200);
  assert.deepEqual((await getJson(url('/readyz'))).body, { status: 'ready', store: 'sqlite' });
  const metrics = await fetch(url('/metrics'));
  const text = await metrics.text();
  assert.match(metrics.headers.get('content-type') ?? '', /text\/plain/);
  assert.match(text, /iotgw_readings_accepted_total\{transport="http"\} \d+/);
  // Each refusal counted once, including the body parser's, which never reach the route handler.
  for (const [reason, n] of [['missing_field', 2], ['invalid_json', 1], ['unsupported_media_type', 1], ['body_too_large', 1], ['batch_too_large', 1], ['invalid_reading', 1], ['too_deep', 1]] as const) {
    assert.match(text, new RegExp(`iotgw_readings_rejected_total\\{reason="${reason}"\\} ${n}\\n`), reason);
  }
  assert.match(text, /iotgw_store_mode\{store="sqlite"\} 1/);
  assert.match(text, /iotgw_http_request_duration_seconds_bucket/);
  const page = await fetch(url('/'));
  assert.match(await page.text(), /<title>iotgw /);
});
