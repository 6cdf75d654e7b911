/**
 * Chaos on Redis under load: SIGKILL and restart (appendonly, as deploy/ configures it), and
 * SIGSTOP (slow, not down: the connection stays open and writes hang past
 * redis.write_timeout_ms). Intake must go on through SQLite without refusing the fleet, return
 * to Redis, and in the end hold each acknowledged reading once, uploaded or local.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMongoForTests } from './support/mongo-server.ts';
import { TestRedis } from './support/redis.ts';
import { sleep, waitFor } from './support/ports.ts';
import { Fleet } from './chaos/fleet.ts';
import { settleAndAccount, assertExactlyOnce, metricByLabel } from './chaos/accounting.ts';
import { chaosGateway, dropDatabase, pick, scenarioDir } from './chaos/setup.ts';

let mongo: { uri: string; stop(): Promise<void> };
before(async () => { mongo = await startMongoForTests(); });
after(async () => { await mongo.stop(); });

for (const fault of ['kill', 'pause'] as const) {
  const rounds = pick(2, 5);
  test(`Redis ${fault === 'kill' ? 'SIGKILLed and restarted' : 'paused with SIGSTOP'} ${rounds} times under load: no refusals, every acknowledged reading once`, { timeout: 600_000 }, async () => {
    const dir = scenarioDir(`redis-${fault}`);
    const redis = await new TestRedis({ appendonly: true }).start();
    const database = `chaos_redis_${fault}_${process.pid}`;
    const gatewayId = `gw-chaos-redis-${fault}`;
    const gw = await chaosGateway({ dataDir: dir.path, redisUrl: redis.url, mongoUri: mongo.uri, gatewayId, database, config: { redis: { write_timeout_ms: 200, health_interval_ms: 200 }, ingest: { rate_limit: { per_device_per_second: 0 } } } }).start();
    const fleet = new Fleet({ url: () => gw.url, devices: 6, rate: 25, batch: 10, boot: `r${fault}${process.pid}` }).start();
    const metrics = async () => String((await gw.get('/metrics')).body);
    try {
      for (let round = 0; round < rounds; round++) {
        await waitFor(async () => /iotgw_store_mode\{store="redis"\} 1/.test(await metrics()), 30_000, 'intake on Redis');
        await sleep(1000 + Math.random() * 1500);
        if (fault === 'kill') {
          await redis.kill();
          await sleep(1500 + Math.random() * 1500);
          await redis.start();
        } else {
          redis.pause();
          await sleep(1500 + Math.random() * 1500);
          redis.resume();
        }
      }
      await fleet.drain();
      const a = await settleAndAccount({ scenario: `redis-${fault}`, fleet, sqlitePath: dir.sqlite, redisUrl: redis.url, mongo: { uri: mongo.uri, database, gatewayId }, gateway: gw });
      assertExactlyOnce(a, fleet);
      assert.ok((metricByLabel(await metrics(), 'iotgw_store_failovers_total', 'to').sqlite ?? 0) >= rounds, 'each fault sent intake to SQLite');
      assert.deepEqual(Object.keys(fleet.answers).sort(), ['202'], `the fleet was never refused: ${JSON.stringify(fleet.answers)}`);
    } finally {
      redis.resume();
      await gw.stop();
      await redis.destroy();
      await dropDatabase(mongo.uri, database);
      dir.cleanup();
    }
  });
}
