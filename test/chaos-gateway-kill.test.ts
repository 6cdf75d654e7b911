/**
 * Chaos: the gateway SIGKILLed again and again at random moments under load (5 times here, 20
 * with `npm run chaos`), half of the kills while an upload write is on its way to Atlas (the wire
 * server holds each write 150 ms, and the kill follows the write's arrival). Redis (appendonly)
 * and SQLite, short windows, uploads every second. The fleet resends what was not acknowledged;
 * at the end every acknowledged reading must be in Atlas or a local store exactly once.
 */
import { test, before, after } from 'node:test';
import { startMongoForTests, type MongoWireServer } from './support/mongo-server.ts';
import { TestRedis } from './support/redis.ts';
import { sleep, waitFor } from './support/ports.ts';
import { Fleet } from './chaos/fleet.ts';
import { settleAndAccount, assertExactlyOnce } from './chaos/accounting.ts';
import { chaosGateway, dropDatabase, pick, scenarioDir } from './chaos/setup.ts';

let mongo: { uri: string; server?: MongoWireServer; stop(): Promise<void> };
before(async () => { mongo = await startMongoForTests(); });
after(async () => { await mongo.stop(); });

test(`SIGKILL of the gateway ${pick(5, 20)} times under load, also during uploads: every acknowledged reading exactly once`, { timeout: 900_000 }, async () => {
  const dir = scenarioDir('kill');
  const redis = await new TestRedis({ appendonly: true }).start();
  const database = `chaos_kill_${process.pid}`;
  const gatewayId = 'gw-chaos-kill';
  let gw = chaosGateway({ dataDir: dir.path, redisUrl: redis.url, mongoUri: mongo.uri, gatewayId, database });
  await gw.start();
  const port = gw.port;
  let writeArrived = 0;
  mongo.server?.faults.failWritesWhere(() => { writeArrived = Date.now(); return null; });
  if (mongo.server) mongo.server.faults.delayMs = 150;
  const fleet = new Fleet({ url: () => `http://127.0.0.1:${port}`, devices: 8, rate: 25, batch: 10, boot: `k${process.pid}` }).start();
  let duringUpload = 0;
  try {
    const kills = pick(5, 20);
    for (let k = 0; k < kills; k++) {
      if (k % 2 === 1 && mongo.server) {
        const since = Date.now();
        await waitFor(() => writeArrived > since, 30_000, 'an upload write on its way');
        await sleep(Math.random() * 100);
        duringUpload++;
      } else {
        await sleep(500 + Math.random() * 2500);
      }
      await gw.kill();
      await sleep(Math.random() * 1000);
      gw = chaosGateway({ dataDir: dir.path, redisUrl: redis.url, mongoUri: mongo.uri, gatewayId, database, port });
      await gw.start();
    }
    await fleet.drain();
    const a = await settleAndAccount({ scenario: 'gateway-kill', fleet, sqlitePath: dir.sqlite, redisUrl: redis.url, mongo: { uri: mongo.uri, database, gatewayId }, gateway: gw });
    process.stdout.write(`chaos gateway-kill: ${kills} kills, ${duringUpload} while an upload write was in flight\n`);
    assertExactlyOnce(a, fleet);
  } finally {
    mongo.server?.faults.reset();
    if (mongo.server) mongo.server.faults.delayMs = 0;
    await gw.kill();
    await redis.destroy();
    await dropDatabase(mongo.uri, database);
    dir.cleanup();
  }
});
