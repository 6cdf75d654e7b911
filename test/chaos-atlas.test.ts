/**
 * Chaos on the uplink: the wire test server, under load, in turn refuses connections, answers
 * slowly, returns transient and permanent write errors, and applies writes without answering
 * (lost acks). Each fault lasts a few seconds while windows close and uploads retry. When the
 * faults stop, every acknowledged reading must be in Atlas exactly once (deterministic `_id`s,
 * idempotent replaces) and nothing left locally.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMongoForTests, type MongoWireServer } from './support/mongo-server.ts';
import { sleep } from './support/ports.ts';
import { Fleet } from './chaos/fleet.ts';
import { settleAndAccount, assertExactlyOnce } from './chaos/accounting.ts';
import { chaosGateway, dropDatabase, pick, scenarioDir } from './chaos/setup.ts';
import { uploadQuarantineCount } from './support/buffer-inspect.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** `iotgw upload --retry-quarantine`, as the operator runs it beside the daemon (through its admin socket). */
function retryQuarantine(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const e: Record<string, string> = { ...(process.env as Record<string, string>), ...env };
  delete e.MONGODB_URI;
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts', 'upload', '--retry-quarantine'], { cwd: root, env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
}

let mongo: { uri: string; server?: MongoWireServer; stop(): Promise<void> };
before(async () => { mongo = await startMongoForTests(); });
after(async () => { await mongo.stop(); });

/** Each fault on, for `ms`, then off again. */
const FAULTS: [string, (s: MongoWireServer) => void][] = [
  ['refuse connections', (s) => { s.faults.refuseConnections = true; }],
  ['slow (700 ms per command)', (s) => { s.faults.delayMs = 700; }],
  ['transient write errors (11600)', (s) => { s.faults.failNextWrites(4, { code: 11600, errmsg: 'interrupted at shutdown' }); }],
  ['lost acks (write applied, no reply)', (s) => { s.faults.dropAfterWrite(3); }],
  ['a permanent write error (121)', (s) => { s.faults.failNextWrites(1, { code: 121, errmsg: 'Document failed validation' }); }],
];

test('Atlas refusing, slow, failing writes and losing acks under load: every acknowledged reading in Atlas once', { skip: process.env.MONGODB_URI ? 'the faults need the wire test server' : false, timeout: 600_000 }, async () => {
  const dir = scenarioDir('atlas');
  const database = `chaos_atlas_${process.pid}`;
  const gatewayId = 'gw-chaos-atlas';
  const gw = await chaosGateway({ dataDir: dir.path, mongoUri: mongo.uri, gatewayId, database, config: { upload: { retry_base_ms: 100, retry_max_ms: 1000, part_max_bytes: 8192 } } }).start();
  const fleet = new Fleet({ url: () => gw.url, devices: 6, rate: 20, batch: 10, boot: `a${process.pid}` }).start();
  const server = mongo.server!;
  try {
    for (let round = 0; round < pick(1, 3); round++) {
      for (const [name, on] of FAULTS) {
        on(server);
        process.stdout.write(`chaos atlas: ${name}\n`);
        await sleep(pick(3000, 8000));
        server.faults.reset();
        server.faults.delayMs = 0;
        server.faults.refuseConnections = false;
        await sleep(1000);
      }
    }
    await fleet.drain();
    // A part Atlas refused for good (the 121) is set aside in the upload quarantine, so it does not
    // hold back its window (issue 21, item 4); once the cause is gone, the operator sends it again.
    const before = await settleAndAccount({ scenario: 'atlas-faults (before the retry)', fleet, sqlitePath: dir.sqlite, mongo: { uri: mongo.uri, database, gatewayId }, gateway: gw }, 30_000);
    const waiting = uploadQuarantineCount(dir.sqlite);
    process.stdout.write(`chaos atlas: ${waiting} readings in the upload quarantine before the retry\n`);
    assert.equal(before.missing.length, 0, `acknowledged but nowhere, not even in the quarantine: ${before.missing.slice(0, 5).join(', ')}`);
    const retry = await retryQuarantine({ IOTGW_DATA_DIR: dir.path, IOTGW_CONFIG: `${dir.path}.config.yaml`, IOTGW_MONGODB_URI: mongo.uri, IOTGW_REDIS_URL: 'none', IOTGW_GATEWAY_ID: gatewayId, IOTGW_LOG_LEVEL: 'warn' });
    assert.equal(retry.code, 0, retry.out);
    assert.equal(uploadQuarantineCount(dir.sqlite), 0, 'the retry emptied the quarantine');
    const a = await settleAndAccount({ scenario: 'atlas-faults', fleet, sqlitePath: dir.sqlite, mongo: { uri: mongo.uri, database, gatewayId }, gateway: gw });
    process.stdout.write(`chaos atlas: server saw ${JSON.stringify(server.stats().droppedAfterWrite)} writes applied without a reply\n`);
    assertExactlyOnce(a, fleet);
  } finally {
    server.faults.reset();
    server.faults.delayMs = 0;
    server.faults.refuseConnections = false;
    await gw.stop();
    await dropDatabase(mongo.uri, database);
    dir.cleanup();
  }
});
