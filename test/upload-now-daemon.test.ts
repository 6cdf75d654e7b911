import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMongoForTests, type MongoWireServer } from './support/mongo-server.ts';
import { GatewayProcess } from './support/gateway-process.ts';
import { HOUR, atlasContents, makeReadings, openHarness } from './support/upload-driver.ts';
import { tempDir } from './support/ports.ts';

// `iotgw upload --now` while the daemon runs (issue 21, item 5): the CLI asks the daemon through
// its admin socket, waits, and prints what the daemon sent; the buffer stays the daemon's.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let mongo: { uri: string; server?: MongoWireServer; stop(): Promise<void> };
before(async () => { mongo = await startMongoForTests(); });
after(async () => { await mongo.stop(); });

function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const e: Record<string, string> = { ...(process.env as Record<string, string>), ...env };
  delete e.MONGODB_URI;
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts', 'upload', ...args], { cwd: root, env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
}

test('iotgw upload --now with the daemon running: the daemon uploads, the CLI prints what it sent', { skip: !!process.env.MONGODB_URI && 'needs the wire server (refused connections)' }, async () => {
  const dir = tempDir('iotgw-now-');
  const database = `iotgw_now_daemon_${process.pid}`;
  const window = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
  // A closed hour waits in the buffer, as after an outage.
  const h = await openHarness({ mongoUri: null, database, dir: dir.path });
  await h.buffer.append(makeReadings(12, { start: window + 1000, tag: 'daemon' }));
  await h.close();
  const config = { mongodb: { database, server_selection_timeout_ms: 500, connect_timeout_ms: 500 }, upload: { retry_base_ms: 600_000, retry_max_ms: 600_000 } };
  const gw = new GatewayProcess({ dataDir: dir.path, mongoUri: mongo.uri, env: { IOTGW_GATEWAY_ID: 'gw-test', IOTGW_LOG_LEVEL: 'info' }, config });
  const env = { IOTGW_DATA_DIR: dir.path, IOTGW_MONGODB_URI: mongo.uri, IOTGW_REDIS_URL: 'none', IOTGW_CONFIG: `${dir.path}.config.yaml`, IOTGW_LOG_LEVEL: 'warn', IOTGW_GATEWAY_ID: 'gw-test' };
  try {
    // The daemon's own first pass fails (Atlas refuses), and its next one is ten minutes away.
    mongo.server!.faults.refuseConnections = true;
    await gw.start();
    await gw.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('Atlas unreachable'), 30_000);
    mongo.server!.faults.refuseConnections = false;

    const run = await cli(['--now'], env);
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, new RegExp(`asking the running daemon \\(pid ${gw.pid}\\) to upload now`));
    assert.match(run.out, new RegExp(`window ${new Date(window).toISOString()} \\(sqlite\\): 12 readings in 2 parts, 12 deleted locally`));
    assert.match(run.out, /still queued: 0 closed windows/);
    assert.ok(gw.logs.some((l) => l.msg === 'window uploaded'), 'the daemon did the upload');
    assert.equal((await atlasContents(mongo.uri, database)).rids.length, 12);
    const stats = await gw.get('/stats');
    assert.deepEqual(stats.body.upload.quarantine, { parts: 0, readings: 0 });

    const retry = await cli(['--retry-quarantine'], env);
    assert.equal(retry.code, 0, retry.out);
    assert.match(retry.out, new RegExp(`asking the running daemon \\(pid ${gw.pid}\\) to retry the quarantine`));
    assert.match(retry.out, /the quarantine is empty/);
  } finally {
    mongo.server?.faults.reset();
    await gw.stop();
    dir.cleanup();
  }
  // With the daemon gone, the CLI does the pass itself (nothing left to send).
  const alone = tempDir('iotgw-now-alone-');
  try {
    const run = await cli(['--now'], { ...env, IOTGW_DATA_DIR: alone.path, IOTGW_CONFIG: '' });
    assert.equal(run.code, 0, run.out);
    assert.doesNotMatch(run.out, /running daemon/);
    assert.match(run.out, /nothing to upload/);
  } finally {
    alone.cleanup();
  }
});
