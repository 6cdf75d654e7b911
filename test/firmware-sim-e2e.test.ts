/**
 * End to end: the firmware's own device loop (firmware/sim, built from the portable core) sends
 * through the real gateway; the gateway is stopped (SIGTERM) mid-run and started again on the
 * same port and data dir. Afterwards every reading the simulator counted as acknowledged must be
 * in the gateway's SQLite buffer exactly once, and, since the ring buffer was large enough for
 * the outage, every reading produced must have been acknowledged (none dropped, none pending).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GatewayProcess } from './support/gateway-process.ts';
import { buildSim, runSim } from './support/sim.ts';
import { tempDir, waitFor, sleep } from './support/ports.ts';
import { sqliteRows } from './support/buffer-inspect.ts';


function countStored(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return sqliteRows(db).length;
  } finally {
    db.close();
  }
}

/** seq -> number of rows holding that (device_id, boot_id, seq), read from the documents themselves. */
function storedSeqs(dbPath: string, deviceId: string, bootId: string): Map<number, number> {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const out = new Map<number, number>();
    for (const r of sqliteRows(db)) {
      const doc = JSON.parse(r.doc) as { device_id?: string; boot_id?: string; seq?: number };
      if (doc.device_id === deviceId && doc.boot_id === bootId && typeof doc.seq === 'number') out.set(doc.seq, (out.get(doc.seq) ?? 0) + 1);
    }
    return out;
  } finally {
    db.close();
  }
}

for (const transport of ['http', 'ws'] as const) {
  test(`simulated devices over ${transport}: acked readings survive a gateway restart exactly once`, async () => {
    buildSim();
    const dir = tempDir();
    const dbPath = join(dir.path, 'buffer.db');
    let gw = await new GatewayProcess({ dataDir: dir.path }).start();
    const port = gw.port;
    try {
      const sim = runSim([
        '--gateway', `127.0.0.1:${port}`,
        '--devices', '4',
        '--rate', '10',
        '--duration', '12',
        '--transport', transport,
        '--ring', '1000',
        '--drain', '90',
      ]);
      sim.done.catch(() => {}); // awaited below; keep an early failure from going unhandled

      // Let real traffic land, then take the gateway away while the devices keep sampling.
      await waitFor(() => countStored(dbPath) >= 40, 30000, 'first readings to be stored');
      assert.equal(sim.exited(), false, 'the simulator must still be sampling when the gateway stops');
      assert.equal(await gw.stop('SIGTERM'), 0, 'graceful stop');
      await sleep(3000);
      assert.equal(sim.exited(), false, 'the outage must happen while the simulator runs');
      gw = await new GatewayProcess({ dataDir: dir.path, port }).start();

      const result = await sim.done;
      assert.equal(result.transport, transport);
      assert.equal(result.device_list.length, 4);
      assert.ok(result.failures > 0, 'the devices noticed the outage (otherwise this test proved nothing)');
      if (transport === 'ws') assert.ok(result.ws_opens >= 8, `each device reconnected (opens: ${result.ws_opens})`);
      assert.equal(result.dropped, 0, 'the ring held everything during the outage');
      assert.equal(result.rejected, 0);
      assert.equal(result.pending, 0, 'every reading was delivered before the drain ended');
      assert.equal(result.acked, result.produced);

      for (const dev of result.device_list) {
        const stored = storedSeqs(dbPath, dev.device_id, dev.boot_id);
        const acked: number[] = [];
        for (const [a, b] of dev.acked_ranges) for (let s = a; s <= b; s++) acked.push(s);
        assert.equal(acked.length, dev.acked, `${dev.device_id}: ranges add up`);
        assert.equal(new Set(acked).size, acked.length, `${dev.device_id}: no seq acked twice`);
        const missing = acked.filter((s) => stored.get(s) === undefined);
        assert.deepEqual(missing, [], `${dev.device_id}: acked but not stored`);
        const doubled = [...stored].filter(([, n]) => n !== 1).map(([s]) => s);
        assert.deepEqual(doubled, [], `${dev.device_id}: stored more than once`);
        // Nothing the device did not produce (and, with all acked, nothing it produced is absent).
        assert.equal(stored.size, dev.produced, `${dev.device_id}: stored readings = produced`);
        assert.ok([...stored.keys()].every((s) => s >= 0 && s < dev.produced));
      }

      // The gateway's read API agrees with its store for one device.
      const first = result.device_list[0];
      const api = await gw.get(`/devices/${first.device_id}/readings?limit=1000`);
      assert.equal(api.status, 200);
      const apiSeqs = (api.body.readings as { seq: number; boot_id: string }[])
        .filter((r) => r.boot_id === first.boot_id)
        .map((r) => r.seq)
        .sort((a, b) => a - b);
      assert.deepEqual(apiSeqs, Array.from({ length: first.produced }, (_, i) => i));
    } finally {
      await gw.stop();
      dir.cleanup();
    }
  });
}
