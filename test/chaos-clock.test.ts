/**
 * Chaos: the gateway's clock jumps an hour back, then an hour forward, then returns, while boards
 * with a synced clock keep sending (`ts`) and two boards send no `ts`. The gateway process runs
 * under libfaketime (its wall clock only; timers keep the real monotonic clock), the boards and
 * the test keep the real time. Readings with `ts` must land in the hour of their `ts`, with
 * `ts` kept as sent; readings without one land by the gateway's receive time, as it saw it; and
 * every acknowledged reading is held once, uploaded or (a window the forward jump put an hour
 * ahead) still local.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MongoClient } from 'mongodb';
import { startMongoForTests } from './support/mongo-server.ts';
import { sleep } from './support/ports.ts';
import { Fleet } from './chaos/fleet.ts';
import { settleAndAccount, assertExactlyOnce, metricValue } from './chaos/accounting.ts';
import { chaosGateway, dropDatabase, pick, scenarioDir } from './chaos/setup.ts';
import { sqliteRows } from './support/buffer-inspect.ts';

const FAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const missing = existsSync(FAKETIME) ? false : `no ${FAKETIME} (apt-get install faketime)`;
const WINDOW_MS = 10_000;
const HOUR = 3_600_000;
const NO_TS = new Set([6, 7]);

let mongo: { uri: string; stop(): Promise<void> };
before(async () => { mongo = await startMongoForTests(); });
after(async () => { await mongo.stop(); });

test('the gateway clock jumps back and forward: readings land in the hour of their ts, ts kept, each once', { skip: missing && !process.env.CI ? missing : false, timeout: 300_000 }, async () => {
  assert.equal(missing, false, String(missing));
  const dir = scenarioDir('clock');
  const offsetFile = join(dir.path, 'faketime');
  const jump = (seconds: number) => writeFileSync(offsetFile, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
  jump(0);
  const database = `chaos_clock_${process.pid}`;
  const gatewayId = 'gw-chaos-clock';
  const gw = await chaosGateway({
    dataDir: join(dir.path, 'data'), mongoUri: mongo.uri, gatewayId, database,
    env: { IOTGW_WINDOW_SECONDS: String(WINDOW_MS / 1000), LD_PRELOAD: FAKETIME, FAKETIME_TIMESTAMP_FILE: offsetFile, FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
  }).start();
  const fleet = new Fleet({ url: () => gw.url, devices: 8, rate: 10, batch: 10, boot: `t${process.pid}`, deviceClock: (d) => (NO_TS.has(d) ? null : Date.now) }).start();
  const offsets: number[] = [];
  try {
    const phase = pick(6000, 20000);
    await sleep(phase / 2);
    for (const seconds of [-3600, 3600, 0]) {
      jump(seconds);
      await sleep(phase);
      offsets.push(metricValue(String((await gw.get('/metrics')).body), 'iotgw_clock_offset_seconds') ?? NaN);
    }
    await fleet.drain();
    const withTs = new Set([...fleet.acked].filter(([, b]) => b.ts !== undefined).map(([id]) => id));
    const noTs = new Set([...fleet.acked.keys()].filter((id) => !withTs.has(id)));
    const a = await settleAndAccount({ scenario: 'clock-jumps', fleet, sqlitePath: join(dir.path, 'data', 'buffer.db'), mongo: { uri: mongo.uri, database, gatewayId }, gateway: gw, mayStayLocal: noTs });
    process.stdout.write(`chaos clock: the gateway's view of its offset to the boards after each jump: ${JSON.stringify(offsets)} s\n`);
    assertExactlyOnce(a, fleet);

    // Where each reading landed, from Atlas's parts and the local file.
    const client = new MongoClient(mongo.uri);
    const wrong: string[] = [];
    try {
      const parts = await client.db(database).collection('group_hours').find({ gateway_id: gatewayId }).toArray();
      for (const p of parts) {
        for (const r of p.readings as Record<string, any>[]) {
          const sent = fleet.acked.get(r._rid);
          if (!sent) continue;
          const basis = sent.ts !== undefined ? (sent.ts as number) : Date.parse(r.timestamp);
          if (sent.ts !== undefined && r.ts !== sent.ts) wrong.push(`${r._rid}: ts ${r.ts} stored, ${sent.ts} sent`);
          // `hour` is the part's hour; `_t` the reading's own time in it (its ts, else the receive time).
          if (Math.floor(basis / HOUR) * HOUR !== (p.hour as Date).getTime() || (r._t as Date).getTime() !== basis) {
            wrong.push(`${r._rid} (${sent.ts !== undefined ? 'ts' : 'receive time'} ${new Date(basis).toISOString()}) in hour ${(p.hour as Date).toISOString()} at ${(r._t as Date).toISOString()}`);
          }
        }
      }
    } finally {
      await client.close();
    }
    const db = new Database(join(dir.path, 'data', 'buffer.db'), { readonly: true });
    for (const row of sqliteRows(db)) {
      const sent = fleet.acked.get(row.id);
      if (!sent) continue;
      assert.ok(sent.ts === undefined, `${row.id} has a ts and should have been uploaded`);
      if (Math.floor(row.received_at / WINDOW_MS) * WINDOW_MS !== row.window) wrong.push(`${row.id} (local) in window ${row.window}`);
    }
    db.close();
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} readings in the wrong window or with a changed ts`);
    assert.ok(withTs.size > 0 && noTs.size > 0);
  } finally {
    await gw.stop();
    await dropDatabase(mongo.uri, database);
    dir.cleanup();
  }
});
