import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { loadConfig } from '../gateway/config.ts';
import { createServer } from '../gateway/server.ts';
import { createMetrics } from '../gateway/metrics.ts';
import { AtlasClient } from '../gateway/upload/atlas.ts';
import { registerGroupRoutes } from '../gateway/upload/routes.ts';
import { captureLog } from './support/upload-driver.ts';
import { tempDir } from './support/ports.ts';

// One window of 300 devices × 3600 readings (an hour at 1/s: 1,080,000 readings) is built in
// the SQLite store of a child process and uploaded in one pass, with the child's V8 heap capped
// at 256 MB: holding the window in memory (well over 1 GB as JS objects) would crash it, so
// finishing proves the upload streams. RSS is sampled every 50 ms and reported, not asserted.
// IOTGW_BIG_PER_DEVICE=360 runs a tenth of it for a quick check.

const root = fileURLToPath(new URL('..', import.meta.url));
const DEVICES = 300;
const PER_DEVICE = Number(process.env.IOTGW_BIG_PER_DEVICE ?? 3600);
const N = DEVICES * PER_DEVICE;

async function startServer(): Promise<{ uri: string; stop(): Promise<void> }> {
  if (process.env.MONGODB_URI) return { uri: process.env.MONGODB_URI, stop: async () => {} };
  // Its own process, so the ~1 GB the in-memory server holds is not counted against anything here.
  const proc = spawn(process.execPath, ['--import', 'tsx', 'test/support/mongo-server.ts', '--port', '0'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: proc.stdout! }), 'line')) as [string];
  const uri = /^ready (\S+)/.exec(line)?.[1];
  if (!uri) throw new Error(`mongo-server: ${line}`);
  return { uri, stop: async () => { proc.kill('SIGTERM'); if (proc.exitCode === null) await once(proc, 'exit'); } };
}

test(`a window of ${N.toLocaleString('en')} readings uploads with bounded memory; GET /groups answers from it`, async (t) => {
  const server = await startServer();
  const dir = tempDir('iotgw-big-');
  try {
    const child = spawn(process.execPath, ['--max-old-space-size=256', '--import', 'tsx', 'test/support/upload-driver.ts', 'big'], {
      cwd: root,
      env: { ...process.env, BIG_DEVICES: String(DEVICES), BIG_PER_DEVICE: String(PER_DEVICE), IOTGW_CONFIG: '', IOTGW_DATA_DIR: dir.path, IOTGW_MONGODB_URI: server.uri, MONGODB_URI: '', IOTGW_GATEWAY_ID: 'gw-big', IOTGW_REDIS_URL: 'none', IOTGW_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { err += d; });
    const [code] = await once(child, 'exit');
    const line = out.split('\n').find((l) => l.includes('"result"'));
    assert.equal(code, 0, `child exited ${code}: ${err.slice(-2000)}`);
    const r = JSON.parse(line!);
    t.diagnostic(`uploaded ${r.readings} readings in ${r.parts} parts; RSS before ${r.rss_before_mb} MB, median ${r.rss_p50_mb} MB, peak ${r.rss_peak_mb} MB (${r.rss_samples} samples); V8 heap peak ${r.heap_peak_mb} MB (cap 256 MB); fill ${r.fill_ms} ms, upload ${r.upload_ms} ms`);
    assert.equal(r.ok, true, JSON.stringify(r.error));
    assert.equal(r.readings, N);

    // What Atlas holds: N readings, each once, in parts under the 8 MB bound.
    const client = new MongoClient(server.uri);
    try {
      const coll = client.db('iot_database').collection('group_hours');
      const parts = await coll.find({ gateway_id: 'gw-big' }, { projection: { readings: 0 } }).toArray();
      assert.equal(parts.reduce((n, p) => n + p.count, 0), N);
      assert.deepEqual([...new Set(parts.map((p) => p.group_id))].sort(), ['site-0', 'site-1', 'site-2']);
      const seen = new Set<string>();
      for await (const p of coll.find({ gateway_id: 'gw-big' }, { projection: { 'readings._rid': 1 } })) {
        for (const x of p.readings) seen.add(x._rid);
      }
      assert.equal(seen.size, N);
      const sizes = await coll.aggregate([{ $project: { size: { $bsonSize: '$$ROOT' } } }]).toArray().catch(() => null);
      if (sizes) assert.ok(sizes.every((s) => s.size <= 8 * 1024 * 1024), 'every part within part_max_bytes');
    } finally {
      await client.close();
    }

    // GET /groups and /groups/:id in the original API's shape, answered from that server.
    const config = loadConfig({ env: {}, overrides: { 'log.level': 'silent' } });
    const { log } = captureLog('silent');
    const atlas = new AtlasClient({ uri: server.uri, database: 'iot_database', connectTimeoutMs: 2000, serverSelectionTimeoutMs: 2000, log });
    const app = createServer(config, log, createMetrics({ defaultMetrics: false }));
    registerGroupRoutes(app, atlas);
    await atlas.ready();
    try {
      const list = (await app.inject({ method: 'GET', url: '/groups' })).json();
      assert.equal(list.status, 'success');
      assert.equal(list.count, list.groups.length);
      const ours = list.groups.filter((g: { group_id: string }) => /^site-[012]$/.test(g.group_id));
      assert.equal(ours.length, 3);
      for (const g of ours) {
        assert.deepEqual(Object.keys(g).sort(), ['created_at', 'devices', 'group_id', 'last_updated']);
        assert.equal(g.devices.length, 100);
      }
      const one = await app.inject({ method: 'GET', url: '/groups/site-1' });
      assert.equal(one.statusCode, 200);
      const g = one.json().group;
      assert.equal(g._id, undefined);
      const d = g.devices.find((x: { device_id: string }) => x.device_id === 'dev-001');
      assert.deepEqual(Object.keys(d).sort(), ['cpu', 'device_id', 'device_type', 'group_id', 'mem', 'rssi', 'status', 'timestamp']);
      assert.equal(Date.parse(d.timestamp), r.window + (PER_DEVICE - 1) * 1000 + 1, 'the device’s last reading of the hour');
    } finally {
      await app.close();
      await atlas.stop();
    }
  } finally {
    await server.stop();
    dir.cleanup();
  }
});
