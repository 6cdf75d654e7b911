/**
 * Exactly once in Atlas for retries that arrive after their hour was uploaded and deleted locally
 * (issue 21, item 1): the acknowledged-record answers them as duplicates, in both stores, across
 * kill -9 and a Redis outage. Real gateway processes, a real redis-server (appendonly), the wire
 * test server; window 2 s, upload every second, as in the issue.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MongoClient } from 'mongodb';
import { startMongoForTests } from './support/mongo-server.ts';
import { GatewayProcess } from './support/gateway-process.ts';
import { TestRedis } from './support/redis.ts';
import { tempDir, waitFor, sleep } from './support/ports.ts';

let mongo: { uri: string; stop(): Promise<void> };
let client: MongoClient;
before(async () => {
  mongo = await startMongoForTests();
  client = new MongoClient(mongo.uri);
});
after(async () => {
  await client.close();
  await mongo.stop();
});

const DEVICES = 4;

interface Board {
  device: string;
  boot: string;
  next: number;
}

const boards = (tag: string): Board[] => Array.from({ length: DEVICES }, (_, d) => ({ device: `esp-${d}`, boot: `${tag}${d}`, next: 0 }));

const reading = (b: Board, seq: number) => ({ device_id: b.device, group_id: `grp-${b.device.endsWith('0') || b.device.endsWith('2') ? 'a' : 'b'}`, boot_id: b.boot, seq, temp: 20 + (seq % 40) / 10 });
const ridOf = (b: Board, seq: number): string => `dev:${b.device}/${b.boot}/${seq}`;

/** Posts the seqs of one board in batches of 10, as a board replays its ring; returns the duplicates the gateway reported. */
async function send(gw: GatewayProcess, b: Board, seqs: number[]): Promise<number> {
  let duplicates = 0;
  for (let i = 0; i < seqs.length; i += 10) {
    const res = await gw.post('/telemetry', seqs.slice(i, i + 10).map((s) => reading(b, s)));
    assert.equal(res.status, 202, `POST answered ${res.status}: ${JSON.stringify(res.body)}`);
    duplicates += Number(res.body.duplicates ?? 0);
  }
  return duplicates;
}

async function rids(database: string, gatewayId: string): Promise<string[]> {
  const parts = await client.db(database).collection('group_hours').find({ gateway_id: gatewayId }, { projection: { 'readings._rid': 1 } }).toArray();
  return parts.flatMap((p) => p.readings.map((r: { _rid: string }) => r._rid));
}

function metric(text: string, name: string, labels = ''): number {
  const m = new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function metrics(gw: GatewayProcess): Promise<string> {
  return String((await gw.get('/metrics')).body);
}

function daemon(dataDir: string, database: string, gatewayId: string, redisUrl?: string): GatewayProcess {
  return new GatewayProcess({
    dataDir,
    redisUrl,
    mongoUri: mongo.uri,
    env: { IOTGW_WINDOW_SECONDS: '2', IOTGW_UPLOAD_INTERVAL_SECONDS: '1', IOTGW_GATEWAY_ID: gatewayId, IOTGW_LOG_LEVEL: 'info' },
    config: {
      mongodb: { database, server_selection_timeout_ms: 1000, connect_timeout_ms: 1000 },
      upload: { retry_base_ms: 50, retry_max_ms: 500 },
      redis: { write_timeout_ms: 1000, health_interval_ms: 200 },
      ingest: { rate_limit: { per_device_per_second: 0 } },
    },
  });
}

/** Atlas holds exactly these readings, and still does after one more upload pass. */
async function expectAtlas(database: string, gatewayId: string, expected: string[]): Promise<void> {
  await waitFor(async () => (await rids(database, gatewayId)).length >= expected.length || null, 60_000, `${expected.length} readings in Atlas`);
  await sleep(2500); // the open window closes and one more pass runs: would anything else arrive?
  const held = await rids(database, gatewayId);
  assert.equal(held.length, new Set(held).size, `a reading is in Atlas twice: ${held.filter((r, i) => held.indexOf(r) !== i).slice(0, 5).join(', ')}`);
  assert.deepEqual([...held].sort(), [...expected].sort(), 'Atlas holds exactly the acknowledged readings');
}

/** Every buffered reading is uploaded and deleted locally (the uploader refreshes the gauges after each pass). */
async function waitLocalEmpty(gw: GatewayProcess): Promise<void> {
  await waitFor(async () => {
    const m = await metrics(gw);
    return metric(m, 'iotgw_buffer_readings', '{store="redis"}') + metric(m, 'iotgw_buffer_readings', '{store="sqlite"}') === 0 || null;
  }, 30_000, 'the local copies deleted after the upload');
}

for (const mode of ['redis', 'sqlite only', 'redis stopped before the kill'] as const) {
  test(`issue 21 scenario (${mode}): 120 acknowledged and uploaded, kill -9, the last 60 retried with 12 new: Atlas holds 132, each once`, { timeout: 180_000 }, async () => {
    const tag = mode.replaceAll(' ', '_');
    const dir = tempDir('iotgw-exactly-');
    const database = `exactly_${tag}_${process.pid}`;
    const gatewayId = `gw-exactly-${tag}`;
    const redis = mode === 'sqlite only' ? null : await new TestRedis({ appendonly: true }).start();
    const fleet = boards(`b${tag.slice(0, 6)}${process.pid}`);
    let gw = await daemon(dir.path, database, gatewayId, redis?.url).start();
    try {
      const first: string[] = [];
      for (const b of fleet) {
        const seqs = Array.from({ length: 30 }, (_, i) => i);
        assert.equal(await send(gw, b, seqs), 0);
        first.push(...seqs.map((s) => ridOf(b, s)));
        b.next = 30;
      }
      if (redis) assert.match(await metrics(gw), /iotgw_store_mode\{store="redis"\} 1/, 'the readings went to Redis');
      await expectAtlas(database, gatewayId, first);
      await waitLocalEmpty(gw);

      if (mode === 'redis stopped before the kill') {
        await redis!.stop();
        await waitFor(async () => /iotgw_store_mode\{store="sqlite"\} 1/.test(await metrics(gw)) || null, 15_000, 'intake on SQLite');
      }
      await gw.kill();
      gw = await daemon(dir.path, database, gatewayId, redis?.url).start();
      if (mode === 'redis') await waitFor(async () => /iotgw_store_mode\{store="redis"\} 1/.test(await metrics(gw)) || null, 15_000, 'intake on Redis');
      if (mode === 'redis stopped before the kill') assert.match(await metrics(gw), /iotgw_store_mode\{store="sqlite"\} 1/, 'the retry lands in SQLite');

      // The boards lost the acks of their last 15 readings each (60 in all) and replay them, then send 3 new ones each.
      let duplicates = 0;
      const all = [...first];
      for (const b of fleet) {
        const seqs = [...Array.from({ length: 15 }, (_, i) => 15 + i), 30, 31, 32];
        duplicates += await send(gw, b, seqs);
        all.push(...[30, 31, 32].map((s) => ridOf(b, s)));
      }
      assert.equal(duplicates, 60, 'every retried reading is answered as a duplicate');
      assert.equal(metric(await metrics(gw), 'iotgw_readings_duplicate_total'), 60, 'and counted in /metrics');
      assert.equal(all.length, 132);
      if (mode === 'redis stopped before the kill') await redis!.start(); // Redis returns; nothing it held is uploaded twice either
      await expectAtlas(database, gatewayId, all);
      const m = await metrics(gw);
      assert.equal(metric(m, 'iotgw_readings_unverified_total'), 0);
      assert.equal(metric(m, 'iotgw_upload_duplicates_dropped_total'), 0, 'no duplicate was stored: the upload\'s duplicate check had nothing to drop');
    } finally {
      await gw.kill();
      await redis?.destroy();
      await client.db(database).dropDatabase().catch(() => undefined);
      dir.cleanup();
    }
  });
}

test('two requests with the same readings at once store them once', { timeout: 60_000 }, async () => {
  const dir = tempDir('iotgw-exactly-race-');
  const database = `exactly_race_${process.pid}`;
  const gatewayId = 'gw-exactly-race';
  const redis = await new TestRedis({ appendonly: true }).start();
  const gw = await daemon(dir.path, database, gatewayId, redis.url).start();
  try {
    const [b] = boards(`race${process.pid}`);
    const seqs = Array.from({ length: 10 }, (_, i) => i);
    const answers = await Promise.all([1, 2, 3, 4].map(() => gw.post('/telemetry', seqs.map((s) => reading(b, s)))));
    assert.deepEqual(answers.map((a) => a.status), [202, 202, 202, 202]);
    assert.equal(answers.reduce((n, a) => n + Number(a.body.duplicates), 0), 30, 'one request stored them, three were answered as duplicates');
    await expectAtlas(database, gatewayId, seqs.map((s) => ridOf(b, s)));
  } finally {
    await gw.kill();
    await redis.destroy();
    await client.db(database).dropDatabase().catch(() => undefined);
    dir.cleanup();
  }
});

type Step =
  | { kind: 'send'; board: number; n: number }
  | { kind: 'retry'; board: number; back: number; n: number }
  | { kind: 'kill' }
  | { kind: 'redis' }
  | { kind: 'upload' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('send' as const), board: fc.nat(DEVICES - 1), n: fc.integer({ min: 1, max: 25 }) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('retry' as const), board: fc.nat(DEVICES - 1), back: fc.integer({ min: 0, max: 60 }), n: fc.integer({ min: 1, max: 25 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'kill' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'redis' as const }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'upload' as const }) },
);

test('property: random sends, retries, kill -9, Redis outages and uploads leave each acknowledged (device_id, boot_id, seq) in Atlas once', { timeout: 590_000 }, async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 10 }), async (steps) => {
      run++;
      const dir = tempDir('iotgw-exactly-prop-');
      const database = `exactly_prop_${process.pid}_${run}`;
      const gatewayId = `gw-exactly-prop-${run}`;
      const redis = await new TestRedis({ appendonly: true }).start();
      let redisUp = true;
      const fleet = boards(`p${run}x${process.pid}`);
      let gw = await daemon(dir.path, database, gatewayId, redis.url).start();
      const acked = new Set<string>();
      let dropped = 0;
      try {
        for (const s of steps) {
          if (s.kind === 'send') {
            const b = fleet[s.board];
            const seqs = Array.from({ length: s.n }, (_, i) => b.next + i);
            assert.equal(await send(gw, b, seqs), 0, 'new readings are not duplicates');
            b.next += s.n;
            for (const q of seqs) acked.add(ridOf(b, q));
          } else if (s.kind === 'retry') {
            // A board that lost acks replays part of its ring, some of it maybe uploaded long ago.
            const b = fleet[s.board];
            const from = Math.max(0, b.next - s.back);
            const seqs = Array.from({ length: Math.min(s.n, b.next - from) }, (_, i) => from + i);
            assert.equal(await send(gw, b, seqs), seqs.length, `a retry of ${seqs.length} acknowledged readings is answered as duplicates`);
          } else if (s.kind === 'kill') {
            dropped += metric(await metrics(gw), 'iotgw_upload_duplicates_dropped_total');
            await gw.kill();
            gw = await daemon(dir.path, database, gatewayId, redis.url).start();
          } else if (s.kind === 'redis') {
            if (redisUp) {
              await redis.stop();
              await waitFor(async () => /iotgw_store_mode\{store="sqlite"\} 1/.test(await metrics(gw)) || null, 15_000, 'intake on SQLite');
            } else {
              await redis.start();
              await waitFor(async () => /iotgw_store_mode\{store="redis"\} 1/.test(await metrics(gw)) || null, 15_000, 'intake on Redis');
            }
            redisUp = !redisUp;
          } else if (redisUp) {
            await waitFor(async () => (await rids(database, gatewayId)).length >= acked.size || null, 60_000, 'the acknowledged readings uploaded');
            await waitLocalEmpty(gw); // so a later retry finds no local copy to dedup against
          } else {
            await sleep(2500); // what SQLite holds is uploaded; Redis's windows wait for it
          }
        }
        if (!redisUp) await redis.start();
        await expectAtlas(database, gatewayId, [...acked]);
        dropped += metric(await metrics(gw), 'iotgw_upload_duplicates_dropped_total');
        assert.equal(dropped, 0, 'no duplicate was stored: the upload\'s duplicate check (the second line of defence) had nothing to drop');
      } finally {
        await gw.kill();
        await redis.destroy();
        await client.db(database).dropDatabase().catch(() => undefined);
        dir.cleanup();
      }
    }),
    { numRuns: Number(process.env.IOTGW_EXACTLY_RUNS ?? 8), endOnFailure: true },
  );
});
