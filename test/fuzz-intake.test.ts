/**
 * Property-based tests (fast-check) of HTTP and WebSocket intake against the real daemon in a
 * child process, so a crash cannot hide. For arbitrary and malformed bodies, headers and frames:
 * the gateway never crashes, never answers 5xx to a client's error, never stores part of a
 * refused batch, and stores what it acknowledged intact. `IOTGW_FUZZ_RUNS` sets the runs per
 * property (100 in the test command; `npm run fuzz` runs 2000).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { GatewayProcess } from './support/gateway-process.ts';
import { tempDir } from './support/ports.ts';
import { rawRequest } from './support/raw-http.ts';
import { sqliteRows } from './support/buffer-inspect.ts';

const RUNS = Number(process.env.IOTGW_FUZZ_RUNS ?? 100);
const dir = tempDir('iotgw-fuzz-');
const BOOT = `fz${process.pid}`;
let gw: GatewayProcess;
let db: Database.Database;
let seq = 0;

before(async () => {
  gw = await new GatewayProcess({ dataDir: dir.path, config: { ingest: { rate_limit: { per_device_per_second: 0 }, max_batch: 20 }, http: { body_limit_bytes: 16384 } } }).start();
  db = new Database(join(dir.path, 'buffer.db'), { readonly: true, fileMustExist: true });
});
after(async () => {
  db?.close();
  const code = await gw.stop();
  dir.cleanup();
  assert.equal(code, 0, 'the daemon survived every case and stopped cleanly');
});

/** Stored docs by reading id, read from the SQLite file itself. */
function stored(ids: string[]): Map<string, Record<string, unknown>> {
  const want = new Set(ids);
  const rows = sqliteRows(db).filter((r) => want.has(r.id));
  return new Map(rows.map((r) => [r.id, JSON.parse(r.doc)]));
}

async function alive(): Promise<void> {
  const r = await fetch(`${gw.url}/healthz`);
  assert.equal(r.status, 200, 'the gateway still answers');
}

const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/).filter((k) => !['seq', 'ts', 'timestamp', 'status', 'constructor', 'prototype', 'device_type'].includes(k));
const scalar = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.boolean(), fc.string({ maxLength: 40 }), fc.constant(null));
const metricValue = fc.oneof(scalar, fc.dictionary(name, scalar, { maxKeys: 4 }));
/** A reading the gateway must accept, with a unique (boot_id, seq) so it can be found. */
const validReading = fc.record({ device: fc.integer({ min: 0, max: 9 }), metrics: fc.dictionary(name, metricValue, { maxKeys: 8 }) })
  .map(({ device, metrics }) => ({ ...metrics, device_id: `fz-${device}`, group_id: 'fuzz', boot_id: BOOT, seq: seq++ }));

/** Ways to spoil one reading so the whole batch must be refused with a 4xx. */
const spoil = fc.oneof(
  fc.constant((r: any) => { delete r.device_id; }),
  fc.constant((r: any) => { r.group_id = 'has space'; }),
  fc.constant((r: any) => { r.seq = -1; }),
  fc.constant((r: any) => { r.$where = 1; }),
  fc.constant((r: any) => { r['a.b'] = 1; }),
  fc.constant((r: any) => { r._rid = 'x'; }),
  fc.constant((r: any) => { r.deep = { a: { b: { c: 1 } } }; }),
  fc.constant((r: any) => { r.long = 'x'.repeat(2000); }),
  fc.constant((r: any) => { for (let i = 0; i < 70; i++) r[`m${i}`] = i; }),
  fc.constant((r: any) => { r.ts = 'yesterday'; }),
);

const withoutGatewayFields = (doc: Record<string, unknown>): Record<string, unknown> => {
  const { timestamp, status, ...rest } = doc;
  assert.equal(status, 'online');
  assert.ok(!Number.isNaN(Date.parse(String(timestamp))));
  return rest;
};

test('HTTP: a batch is stored whole and intact when acknowledged, and not at all when refused', async () => {
  await fc.assert(fc.asyncProperty(fc.array(validReading, { minLength: 1, maxLength: 8 }), fc.option(fc.tuple(spoil, fc.nat()), { freq: 2 }), fc.boolean(), async (readings, spoiled, envelope) => {
    const sent = JSON.parse(JSON.stringify(readings)) as Record<string, any>[];
    if (spoiled) spoiled[0](sent[spoiled[1] % sent.length]);
    const res = await fetch(`${gw.url}/telemetry`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope ? { readings: sent } : sent) });
    const body = await res.json() as any;
    const ids = readings.map((r) => `dev:${r.device_id}/${BOOT}/${r.seq}`);
    const found = stored(ids);
    if (spoiled) {
      assert.ok(res.status >= 400 && res.status < 500, `a spoiled batch is a client error, got ${res.status} ${JSON.stringify(body)}`);
      assert.equal(typeof body.error?.code, 'string');
      assert.equal(found.size, 0, 'nothing of a refused batch is stored');
    } else {
      assert.equal(res.status, 202, JSON.stringify(body));
      assert.equal(found.size, ids.length, 'every acknowledged reading is stored');
      ids.forEach((id, i) => assert.deepEqual(withoutGatewayFields(found.get(id)!), JSON.parse(JSON.stringify(readings[i]))));
    }
  }), { numRuns: RUNS });
  await alive();
});

test('HTTP: arbitrary bodies and content types never crash the gateway or get a 5xx', async () => {
  const body = fc.oneof(fc.json(), fc.string(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')), fc.constant('x'.repeat(20000)));
  const type = fc.constantFrom('application/json', 'text/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', '', 'application/json; charset=latin1');
  await fc.assert(fc.asyncProperty(body, type, fc.constantFrom('/telemetry', '/health'), async (b, t, path) => {
    const res = await fetch(`${gw.url}${path}`, { method: 'POST', headers: t ? { 'content-type': t } : {}, body: b });
    const text = await res.text();
    assert.ok(res.status < 500, `${res.status} ${text}`);
    if (res.status >= 400) assert.equal(typeof JSON.parse(text).error.code, 'string');
  }), { numRuns: RUNS });
  await alive();
});

test('HTTP: arbitrary headers, methods and malformed requests on a raw socket never get a 5xx', async () => {
  const token = fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/);
  const headerValue = fc.string({ maxLength: 60 }).map((s) => s.replace(/[\r\n\0]/g, ''));
  const request = fc.record({
    method: fc.constantFrom('POST', 'GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'BREW', 'post'),
    path: fc.oneof(fc.constantFrom('/telemetry', '/health', '/ws', '/devices/x/readings', '/%', '/..', '//telemetry'), fc.string({ maxLength: 30 }).map((s) => `/${encodeURI(s)}`)),
    headers: fc.array(fc.tuple(fc.oneof(token, fc.constantFrom('Authorization', 'Content-Length', 'Transfer-Encoding', 'Content-Type', 'Expect', 'Upgrade')), headerValue), { maxLength: 6 }),
    body: fc.oneof(fc.constant(''), fc.json(), fc.string({ maxLength: 100 })),
  });
  await fc.assert(fc.asyncProperty(request, async (r) => {
    const head = [`${r.method} ${r.path} HTTP/1.1`, 'Host: fuzz', ...r.headers.map(([k, v]) => `${k}: ${v}`), 'Connection: close'].join('\r\n');
    const answer = await rawRequest(gw.port, `${head}\r\n\r\n${r.body}`);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
    assert.ok(status < 500, `answered ${answer.slice(0, 300)}`);
  }), { numRuns: RUNS });
  await alive();
});

test('WebSocket: arbitrary text and binary frames get an ack or a 4xx nack, and acked readings are stored intact', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws`);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  const answers: any[] = [];
  ws.on('message', (d) => answers.push(JSON.parse(String(d))));
  const next = async (): Promise<any> => {
    while (answers.length === 0) await new Promise((r) => setTimeout(r, 2));
    return answers.shift();
  };
  const frame = fc.oneof(
    validReading.map((r) => ({ kind: 'valid' as const, data: JSON.stringify(r), reading: r })),
    fc.jsonValue().map((v) => ({ kind: 'any' as const, data: JSON.stringify(v) })),
    fc.string({ maxLength: 200 }).map((s) => ({ kind: 'any' as const, data: s })),
    fc.uint8Array({ maxLength: 200 }).map((b) => ({ kind: 'binary' as const, data: Buffer.from(b) })),
  );
  try {
    await fc.assert(fc.asyncProperty(frame, async (f) => {
      ws.send(f.data);
      const a = await next();
      if (f.kind === 'valid') {
        assert.deepEqual(a, { ack: f.reading.seq, accepted: 1 });
        const doc = stored([`dev:${f.reading.device_id}/${BOOT}/${f.reading.seq}`]).values().next().value;
        assert.deepEqual(withoutGatewayFields(doc!), JSON.parse(f.data));
      } else if ('nack' in a) {
        assert.equal(typeof a.error.code, 'string');
        assert.notEqual(a.error.code, 'internal');
      } else {
        assert.equal(a.accepted >= 1, true, `an ack names what it accepted: ${JSON.stringify(a)}`);
      }
    }), { numRuns: RUNS });
  } finally {
    ws.close();
  }
  await alive();
});

test('WebSocket: random bytes after the upgrade (malformed frames) close that connection only', async () => {
  await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 }), async (bytes) => {
    const key = randomBytes(16).toString('base64');
    // An incomplete frame leaves the connection waiting for the rest: 300 ms idle ends the case.
    const answer = await rawRequest(gw.port, `GET /ws HTTP/1.1\r\nHost: fuzz\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`, Buffer.from(bytes), 300);
    assert.match(answer, /^HTTP\/1\.1 101 /, 'the upgrade itself was accepted, so the frames reached the parser');
  }), { numRuns: Math.max(20, RUNS / 2) });
  await alive();
  // Other clients were never affected.
  const res = await gw.post('/telemetry', { device_id: 'fz-after', group_id: 'fuzz' });
  assert.equal(res.status, 202);
});

test('the fuzzing left no 5xx in the daemon\'s own count', async () => {
  const metrics = String((await gw.get('/metrics')).body);
  const fivexx = [...metrics.matchAll(/iotgw_http_request_duration_seconds_count\{[^}]*status="5\d\d"[^}]*\} (\d+)/g)].map((m) => Number(m[1]));
  assert.deepEqual(fivexx, [], 'no request answered 5xx');
  assert.doesNotMatch(metrics, /iotgw_readings_rejected_total\{reason="internal"\}/);
});
