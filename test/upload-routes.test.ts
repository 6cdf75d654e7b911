import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { MongoClient } from 'mongodb';
import { startMongoForTests, MongoWireServer } from './support/mongo-server.ts';
import { HOUR, captureLog, makeReadings, openHarness } from './support/upload-driver.ts';
import { freePort } from './support/ports.ts';
import { loadConfig } from '../gateway/config.ts';
import { createServer } from '../gateway/server.ts';
import { createMetrics } from '../gateway/metrics.ts';
import { AtlasClient } from '../gateway/upload/atlas.ts';
import { registerGroupRoutes } from '../gateway/upload/routes.ts';
import { runUploadNow } from '../gateway/upload/upload-now.ts';

// GET /groups and GET /groups/:id in the original API's shape, and `iotgw upload --now`.

let mongo: { uri: string; server?: MongoWireServer; stop(): Promise<void> };
before(async () => { mongo = await startMongoForTests(); });
after(async () => { await mongo.stop(); });

const database = `iotgw_routes_${process.pid}`;

async function app(uri: string | null, serverSelectionTimeoutMs = 1000) {
  const config = loadConfig({ env: {}, overrides: { 'log.level': 'silent' } });
  const { log } = captureLog('silent');
  const atlas = new AtlasClient({ uri, database, connectTimeoutMs: 1000, serverSelectionTimeoutMs, log });
  const a = createServer(config, log, createMetrics({ defaultMetrics: false }));
  registerGroupRoutes(a, atlas, { timeoutMs: 1500 });
  await a.ready();
  return { app: a, atlas, close: async () => { await a.close(); await atlas.stop(); } };
}

test('GET /groups and /groups/:id answer from device_groups in the original shape, without _id', async () => {
  const client = new MongoClient(mongo.uri);
  const now = new Date('2026-11-23T18:00:00Z');
  await client.db(database).collection('device_groups').insertMany([
    { group_id: 'lab', last_updated: now, created_at: now, devices: [{ device_id: 'd1', group_id: 'lab', cpu: 1, timestamp: '2026-11-23T17:59:59.000Z', status: 'online' }] },
    { group_id: 'barn', last_updated: now, created_at: now, devices: [] },
  ]);
  await client.close();
  const a = await app(mongo.uri);
  try {
    // Before the first connect completes the route does not wait: 503, and a connect starts.
    const early = await a.app.inject({ method: 'GET', url: '/groups' });
    assert.equal(early.statusCode, 503);
    assert.equal(early.json().error.code, 'atlas_unavailable');
    assert.ok(early.headers['retry-after']);
    await a.atlas.ready();

    const list = await a.app.inject({ method: 'GET', url: '/groups' });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(list.json(), {
      status: 'success', count: 2,
      groups: [
        { group_id: 'barn', last_updated: now.toISOString(), created_at: now.toISOString(), devices: [] },
        { group_id: 'lab', last_updated: now.toISOString(), created_at: now.toISOString(), devices: [{ device_id: 'd1', group_id: 'lab', cpu: 1, timestamp: '2026-11-23T17:59:59.000Z', status: 'online' }] },
      ],
    });
    const one = await a.app.inject({ method: 'GET', url: '/groups/lab' });
    assert.equal(one.statusCode, 200);
    assert.deepEqual(Object.keys(one.json()), ['status', 'group']);
    assert.equal(one.json().group.group_id, 'lab');
    assert.equal('_id' in one.json().group, false);

    const missing = await a.app.inject({ method: 'GET', url: '/groups/nope' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().status, 'error');
    assert.equal(missing.json().error.code, 'not_found');
    assert.match(missing.json().message, /Group not found/);
  } finally {
    await a.close();
  }
});

test('GET /groups: 503 atlas_not_configured without a URI, atlas_unavailable when Atlas is down', async () => {
  const none = await app(null);
  try {
    const r = await none.app.inject({ method: 'GET', url: '/groups/x' });
    assert.equal(r.statusCode, 503);
    assert.equal(r.json().error.code, 'atlas_not_configured');
    assert.match(r.json().error.message, /mongodb\.uri/);
    assert.ok(Number(r.headers['retry-after']) > 0);
  } finally {
    await none.close();
  }
  // A port nobody listens on: connect fails within the bounded timeout, the route never hangs.
  const down = await app(`mongodb://127.0.0.1:${await freePort()}`, 300);
  try {
    await assert.rejects(down.atlas.ready());
    const r = await down.app.inject({ method: 'GET', url: '/groups' });
    assert.equal(r.statusCode, 503);
    assert.equal(r.json().error.code, 'atlas_unavailable');
    assert.match(r.json().error.message, /not reachable/);
    assert.equal(typeof r.json().error.stack, 'undefined');
  } finally {
    await down.close();
  }
});

test('GET /groups answers 503 within its timeout when Atlas is slow, whatever the socket timeout', { skip: !!process.env.MONGODB_URI && 'needs the wire server (delays)' }, async () => {
  const a = await app(mongo.uri);
  try {
    await a.atlas.ready();
    mongo.server!.faults.delayMs = 4000;
    mongo.server!.faults.delayFilter = (name, body) => name === 'find' && body.find === 'device_groups';
    const r = await a.app.inject({ method: 'GET', url: '/groups/lab' });
    assert.equal(r.statusCode, 503);
    assert.equal(r.json().error.code, 'atlas_unavailable');
    assert.match(r.json().error.message, /did not answer within 1500 ms|MaxTimeMSExpired/, 'bounded here or in Atlas, whichever comes first');
  } finally {
    mongo.server!.faults.reset();
    await a.close();
  }
});

test('an unresolvable Atlas host name never blocks: start() returns at once, ready() fails within the timeouts', async () => {
  const { log, lines } = captureLog();
  const atlas = new AtlasClient({ uri: 'mongodb://iotgw-no-such-host.invalid:27017', database, connectTimeoutMs: 300, serverSelectionTimeoutMs: 300, log });
  assert.equal(atlas.start(), undefined, 'start() returns nothing to wait on');
  assert.equal(atlas.state, 'connecting');
  await assert.rejects(atlas.ready());
  assert.equal(atlas.state, 'down');
  assert.equal(atlas.lastError?.kind, 'transient');
  assert.equal(lines.filter((l) => l.level >= 50).length, 0);
  await atlas.stop();
});

test('iotgw upload --now uploads the closed windows, prints a summary per window and group, exits 0', async () => {
  const db = `${database}_now`;
  const h = await openHarness({ mongoUri: mongo.uri, database: db });
  const w = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
  await h.buffer.append(makeReadings(12, { start: w + 1000, tag: 'now' }));
  await h.close();
  let out = '';
  const sink = new Writable({ write(c, _e, cb) { out += c; cb(); } });
  const { log } = captureLog('silent');
  const code = await runUploadNow(h.config, log, sink);
  assert.equal(code, 0, out);
  assert.match(out, new RegExp(`window ${new Date(w).toISOString()} \\(sqlite\\): 12 readings in 2 parts, 12 deleted locally`));
  assert.match(out, /group grp-0: 6 readings in 1 part/);
  assert.match(out, /still queued: 0 closed windows/);
  assert.doesNotMatch(out, /@/);
  // Second run: nothing to do.
  out = '';
  assert.equal(await runUploadNow(h.config, log, sink), 0);
  assert.match(out, /nothing to upload/);
  // Without a URI: exit 78 and a clear message.
  out = '';
  assert.equal(await runUploadNow({ ...h.config, mongodb: { ...h.config.mongodb, uri: null } }, log, sink), 78);
  assert.match(out, /mongodb\.uri is not configured/);
  await h.cleanup();
});

test('iotgw upload --now exits 75 when Atlas is unreachable, and refuses to race a running uploader', async () => {
  const h = await openHarness({ mongoUri: `mongodb://127.0.0.1:${await freePort()}`, database, overrides: { 'mongodb.server_selection_timeout_ms': 300 } });
  await h.buffer.append(makeReadings(3, { start: Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR, tag: 'u' }));
  let out = '';
  const sink = new Writable({ write(c, _e, cb) { out += c; cb(); } });
  const { log } = captureLog('silent');
  // The harness's own uploader holds the lock once it ran a pass.
  await h.uploader.runOnce();
  assert.equal(await runUploadNow(h.config, log, sink), 75);
  assert.match(out, /another iotgw process \(pid \d+\) is uploading/);
  await h.close();
  out = '';
  assert.equal(await runUploadNow(h.config, log, sink), 75);
  assert.match(out, /error \(transient\)/);
  assert.match(out, /still queued: 1 closed windows, 3 readings/);
  await h.cleanup();
});
