import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { startGateway, postJson, getJson } from './support/in-process.ts';
import { GatewayProcess } from './support/gateway-process.ts';
import { TestRedis } from './support/redis.ts';
import { startMongoForTests } from './support/mongo-server.ts';
import { openEvents } from './support/sse.ts';
import { tempDir, waitFor } from './support/ports.ts';

// The status page's API: what GET /stats adds for it, POST /upload/now, and the event stream.

let mongo: Awaited<ReturnType<typeof startMongoForTests>>;
before(async () => { mongo = await startMongoForTests(); });
after(async () => { await mongo.stop(); });

test('GET /stats: gateway, Redis state, buffer drops and quarantine, as the page shows them; Redis stopped shows as down', async () => {
  const redis = await new TestRedis().start();
  const g = await startGateway({ 'redis.url': redis.url, 'redis.health_interval_ms': 100 });
  try {
    assert.equal((await postJson(`${g.url}/telemetry`, { device_id: 'st-1', group_id: 'lab', t: 1 })).status, 202);
    const s = (await getJson(`${g.url}/stats`)).body;
    assert.equal(s.gateway_id, g.config.gateway_id);
    assert.equal(s.http.port, g.gw.port);
    assert.deepEqual(s.http.addresses, ['127.0.0.1']);
    assert.ok(Date.parse(s.started_at) <= Date.now());
    assert.deepEqual(s.store.redis, { configured: true, state: 'up' });
    assert.equal(s.store.mode, 'redis');
    assert.equal(s.store.windows, 1);
    assert.equal(s.store.window_seconds, 3600);
    assert.equal(s.store.oldest_window, new Date(Math.floor(Date.now() / 3600_000) * 3600_000).toISOString());
    assert.deepEqual(s.store.dropped, {});
    assert.deepEqual(s.store.quarantined, {});
    assert.deepEqual(s.discovery, { enabled: false, backend: null, problem: null, host: null, instance_name: null });

    // The counters behind /metrics, by reason: what the page lists as drops.
    g.gw.metrics.readingsDropped.inc({ reason: 'max_age' }, 3);
    g.gw.metrics.recordsQuarantined.inc({ store: 'sqlite' });
    const s2 = (await getJson(`${g.url}/stats`)).body;
    assert.deepEqual(s2.store.dropped, { max_age: 3 });
    assert.deepEqual(s2.store.quarantined, { sqlite: 1 });

    await redis.stop();
    const down = await waitFor(async () => {
      const b = (await getJson(`${g.url}/stats`)).body;
      return b.store.mode === 'sqlite' ? b : null;
    }, 15000, 'the buffer to fall back to SQLite');
    assert.deepEqual(down.store.redis, { configured: true, state: 'down' });
  } finally {
    await g.stop();
    await redis.destroy();
  }
});

test('POST /upload/now: 409 upload_disabled without mongodb.uri; with Atlas it runs one pass and answers its report', async () => {
  const off = await startGateway();
  try {
    const r = await fetch(`${off.url}/upload/now`, { method: 'POST' });
    assert.equal(r.status, 409);
    assert.equal((await r.json()).error.code, 'upload_disabled');
    assert.equal(r.headers.get('retry-after'), null, 'waiting does not help: no Retry-After');
  } finally {
    await off.stop();
  }

  const database = `iotgw_status_${process.pid}`;
  // A long interval: only the button uploads in this test.
  const g = await startGateway({ 'mongodb.uri': mongo.uri, 'mongodb.database': database, 'upload.interval_seconds': 86400 });
  try {
    // Device time two hours back files the reading in a closed window, ready to upload.
    const ts = Date.now() - 2 * 3600_000;
    assert.equal((await postJson(`${g.url}/telemetry`, { device_id: 'up-1', group_id: 'lab', boot_id: 'b1', seq: 1, ts, v: 7 })).status, 202);
    // The first scheduled pass runs about 2 s after start; whichever pass takes the window, one uploads it.
    const r = await fetch(`${g.url}/upload/now`, { method: 'POST' });
    assert.equal(r.status, 200);
    const report = await r.json();
    assert.equal(report.enabled, true);
    assert.equal(report.error, null);
    const client = new MongoClient(mongo.uri);
    try {
      const docs = await waitFor(async () => {
        const found = await client.db(database).collection('group_hours').find({ group_id: 'lab' }).toArray();
        return found.length > 0 ? found : null;
      }, 15000, 'the window in Atlas');
      assert.deepEqual(docs.flatMap((d) => d.readings.map((x: { device_id: string; v: number }) => [x.device_id, x.v])), [['up-1', 7]]);
    } finally {
      await client.close();
    }
    const s = (await getJson(`${g.url}/stats`)).body;
    assert.ok(s.upload.last_success, 'the page sees the last success');
  } finally {
    await g.stop();
  }
});

test('GET /events: a snapshot on connect, then a posted reading, a state reached by silence and a store change, as they happen', async () => {
  const dir = tempDir();
  const redis = await new TestRedis().start();
  const gw = await new GatewayProcess({
    dataDir: dir.path, redisUrl: redis.url,
    config: { discovery: { expected_interval_seconds: 1, stale_after_seconds: 1, offline_after_seconds: 3 }, redis: { health_interval_ms: 200 } },
  }).start();
  const stream = await openEvents(`${gw.url}/events`);
  try {
    assert.equal(stream.status, 200);
    const first = await stream.next((e) => e.event === 'devices', 'the snapshot');
    assert.deepEqual(first.data, { full: true, devices: [] });
    const stats = await stream.next((e) => e.event === 'stats', 'the first stats');
    assert.equal(stats.data.store.mode, 'redis');

    // Past 32 streams at once the gateway says so, rather than serving without bound.
    const many = await Promise.all(Array.from({ length: 32 }, () => fetch(`${gw.url}/events`)));
    assert.equal(many.filter((r) => r.status === 200).length, 31, 'the first stream and 31 more');
    const refused = many.find((r) => r.status === 503);
    assert.ok(refused, 'the 33rd is refused');
    assert.equal((await refused.json()).error.code, 'too_many_streams');
    assert.equal(refused.headers.get('retry-after'), '10');
    for (const r of many) if (r.status === 200) await r.body?.cancel();

    await gw.post('/telemetry', { device_id: 'ev-1', group_id: 'lab', wifi_rssi: -58, heap_free: 180000 });
    const added = await stream.next((e) => e.event === 'devices' && e.data.devices.some((d: { device_id: string; state: string }) => d.device_id === 'ev-1' && d.state === 'online'), 'ev-1 online');
    assert.equal(added.data.full, false);
    const reading = await stream.next((e) => e.event === 'readings', 'the reading');
    assert.deepEqual(reading.data.readings.map((r: { device_id: string; wifi_rssi: number }) => [r.device_id, r.wifi_rssi]), [['ev-1', -58]]);

    // Silence: stale after 1 s, offline after 3 s, each sent without any request.
    await stream.next((e) => e.event === 'devices' && e.data.devices.some((d: { device_id: string; state: string }) => d.device_id === 'ev-1' && d.state === 'stale'), 'ev-1 stale');
    await stream.next((e) => e.event === 'devices' && e.data.devices.some((d: { device_id: string; state: string }) => d.device_id === 'ev-1' && d.state === 'offline'), 'ev-1 offline');

    // A second page gets the whole picture at once.
    const second = await openEvents(`${gw.url}/events`);
    const snap = await second.next((e) => e.event === 'devices', 'the second snapshot');
    assert.deepEqual(snap.data.devices.map((d: { device_id: string; state: string }) => [d.device_id, d.state]), [['ev-1', 'offline']]);
    const latest = await second.next((e) => e.event === 'readings', 'the latest readings');
    assert.deepEqual(latest.data.readings.map((r: { device_id: string }) => r.device_id), ['ev-1']);
    second.close();

    await redis.stop();
    const fallback = await stream.next((e) => e.event === 'stats' && e.data.store.mode === 'sqlite', 'the SQLite fallback');
    assert.equal(fallback.data.store.redis.state, 'down');

    // An open stream does not hold up a graceful stop.
    assert.equal(await gw.stop(), 0);
    assert.ok(!gw.logs.some((l) => /shutdown drain timed out/.test(String(l.msg))), `the drain did not time out: ${JSON.stringify(gw.logs.slice(-8))}`);
  } finally {
    stream.close();
    await gw.kill();
    await redis.destroy();
    dir.cleanup();
  }
});
