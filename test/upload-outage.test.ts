import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startMongoForTests, type MongoWireServer } from './support/mongo-server.ts';
import { GatewayProcess } from './support/gateway-process.ts';
import { TestRedis } from './support/redis.ts';
import { tempDir, waitFor, sleep } from './support/ports.ts';
import { redisWindowCount } from './support/buffer-inspect.ts';

// Atlas down for several (2 s) windows while readings keep arriving, then back: every
// acknowledged reading reaches Atlas once; Redis held only the recent windows (the older ones
// spilled to SQLite); nothing was dropped. With a small buffer.max_bytes, the readings missing
// from Atlas are exactly the ones counted as dropped.

let mongo: { uri: string; server?: MongoWireServer; stop(): Promise<void> };
const skip = !!process.env.MONGODB_URI && 'needs the wire server (refuses connections)';
before(async () => { mongo = await startMongoForTests(); });
after(async () => { await mongo.stop(); });

const BOOT = `o${process.pid}`;
let seq = 0;

async function postBatch(gw: GatewayProcess, n: number): Promise<string[]> {
  const items = Array.from({ length: n }, () => {
    const s = seq++;
    const d = s % 8;
    return { device_id: `dev-${d}`, group_id: `grp-${d % 2}`, boot_id: BOOT, seq: s, temp: 20 + (s % 50) / 10, note: 'y'.repeat(120) };
  });
  const res = await gw.post('/telemetry', items);
  assert.ok(res.status >= 200 && res.status < 300, `POST answered ${res.status}`);
  return items.map((it) => `dev:${it.device_id}/${BOOT}/${it.seq}`);
}

/** Read on the server side: the test's own client would be refused during the outage too. */
async function atlasRids(database: string): Promise<string[]> {
  return mongo.server!.collection(database, 'group_hours').flatMap((p) => p.readings.map((r: { _rid: string }) => r._rid));
}

async function dropped(gw: GatewayProcess): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith('iotgw_readings_dropped_total')).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

/** Readings held in Redis window lists, and Redis's used_memory. */
async function redisHeld(redis: Redis): Promise<{ readings: number; memory: number }> {
  let readings = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'iotgw:l:*', 'COUNT', 1000);
    cursor = next;
    for (const k of keys) readings += await redisWindowCount(redis, k.slice('iotgw:l:'.length));
  } while (cursor !== '0');
  const info = await redis.info('memory');
  return { readings, memory: Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0) };
}

function daemon(dataDir: string, database: string, extra: { redisUrl?: string; config?: Record<string, unknown> }): GatewayProcess {
  return new GatewayProcess({
    dataDir,
    mongoUri: mongo.uri,
    redisUrl: extra.redisUrl,
    env: { IOTGW_WINDOW_SECONDS: '2', IOTGW_UPLOAD_INTERVAL_SECONDS: '1', IOTGW_GATEWAY_ID: 'gw-outage', IOTGW_LOG_LEVEL: 'info' },
    config: {
      mongodb: { database, server_selection_timeout_ms: 500, connect_timeout_ms: 500 },
      upload: { retry_base_ms: 100, retry_max_ms: 500 },
      ingest: { rate_limit: { per_device_per_second: 0 } },
      ...extra.config,
    },
  });
}

test('Atlas down for several windows: Redis stays bounded by spilling, nothing dropped, then everything once', { skip }, async (t) => {
  const redisServer = await new TestRedis().start();
  const redis = new Redis(redisServer.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  const dir = tempDir('iotgw-outage-');
  const database = `iotgw_outage_${process.pid}`;
  const gw = daemon(dir.path, database, { redisUrl: redisServer.url, config: { buffer: { spill_after_seconds: 2, maintenance_interval_ms: 200 } } });
  try {
    mongo.server!.faults.refuseConnections = true;
    await gw.start();
    const acked: string[] = [];
    let peak = { readings: 0, memory: 0 };
    // ~12 s of traffic: six 2 s windows close while Atlas refuses every connection.
    const until = Date.now() + 12_000;
    while (Date.now() < until) {
      acked.push(...(await postBatch(gw, 20)));
      const held = await redisHeld(redis);
      if (held.readings > peak.readings) peak = held;
      await sleep(50);
    }
    const windows = (await gw.get('/stats')).body;
    t.diagnostic(`outage: ${acked.length} readings acknowledged; Redis held at most ${peak.readings} readings (${Math.round(peak.memory / 1024)} KiB used_memory)`);
    assert.equal((await atlasRids(database)).length, 0, 'Atlas was down');
    assert.ok(peak.readings < acked.length / 2, `Redis held ${peak.readings} of ${acked.length}: older windows spilled`);
    assert.ok(gw.logs.some((l) => l.msg === 'spilled window from Redis to SQLite'), 'windows were spilled');
    assert.equal(await dropped(gw), 0, 'no bound was hit: nothing dropped');
    assert.ok(windows.upload.queued_windows >= 3, `queued windows: ${JSON.stringify(windows.upload)}`);
    const unreachable = gw.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('Atlas unreachable'));
    assert.equal(unreachable.length, 1, 'one log line for the outage, not one per pass');

    mongo.server!.faults.refuseConnections = false;
    const final = await waitFor(async () => {
      const r = await atlasRids(database);
      return r.length >= acked.length ? r : null;
    }, 60000, 'the backlog in Atlas');
    await sleep(1500);
    const settled = await atlasRids(database);
    assert.equal(settled.length, final.length);
    assert.equal(settled.length, acked.length, 'each reading once');
    assert.deepEqual([...settled].sort(), [...acked].sort());
    assert.equal(await dropped(gw), 0);
    await waitFor(async () => (await redisHeld(redis)).readings === 0, 15000, 'Redis emptied by the upload');
  } finally {
    mongo.server?.faults.reset();
    await gw.kill();
    redis.disconnect();
    await redisServer.destroy();
    dir.cleanup();
  }
});

test('with a small buffer.max_bytes the oldest readings are dropped, and exactly those are missing from Atlas', { skip }, async (t) => {
  const dir = tempDir('iotgw-outage-');
  const database = `iotgw_outage_small_${process.pid}`;
  const gw = daemon(dir.path, database, { config: { buffer: { max_bytes: 1024 * 1024, maintenance_interval_ms: 200 } } });
  try {
    mongo.server!.faults.refuseConnections = true;
    await gw.start();
    const acked: string[] = [];
    // ~3 MB of readings (about 300 bytes each) over several windows: well past the 1 MiB bound.
    while (acked.length < 10_000) {
      acked.push(...(await postBatch(gw, 200)));
      await sleep(20);
    }
    const lost = await waitFor(async () => (await dropped(gw)) || null, 15000, 'the byte bound to drop readings');
    mongo.server!.faults.refuseConnections = false;
    // Wait until every acknowledged reading is accounted for (uploaded or dropped), then once
    // more after another pass, to see that nothing else arrives.
    await waitFor(async () => (await atlasRids(database)).length + (await dropped(gw)) >= acked.length, 60000, 'the rest uploaded');
    await sleep(1500);
    const inAtlas = await atlasRids(database);
    const droppedNow = await dropped(gw);
    t.diagnostic(`acknowledged ${acked.length}, dropped ${droppedNow} (first seen ${lost}), in Atlas ${inAtlas.length}`);
    assert.ok(droppedNow > 0);
    assert.equal(new Set(inAtlas).size, inAtlas.length, 'each reading at most once');
    const ackedSet = new Set(acked);
    assert.ok(inAtlas.every((r) => ackedSet.has(r)));
    assert.equal(inAtlas.length + droppedNow, acked.length, 'missing from Atlas = counted as dropped, exactly');
    // Oldest first: every dropped reading is older than every uploaded one (seq grows with time).
    const up = new Set(inAtlas);
    const seqOf = (r: string) => Number(r.split('/').pop());
    const maxDropped = Math.max(...acked.filter((r) => !up.has(r)).map(seqOf));
    const minUploaded = Math.min(...inAtlas.map(seqOf));
    assert.ok(maxDropped < minUploaded, `dropped up to seq ${maxDropped}, uploaded from ${minUploaded}`);
  } finally {
    mongo.server?.faults.reset();
    await gw.kill();
    dir.cleanup();
  }
});
