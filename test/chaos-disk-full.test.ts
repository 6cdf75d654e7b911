/**
 * Chaos: the SQLite file's filesystem fills up while Redis is down (configured, not running).
 * The data dir is a small tmpfs mounted by the test. While the disk is full the gateway must
 * answer 503 with Retry-After instead of acknowledging what it cannot keep, stay up, and take
 * readings again once space returns; in the end every acknowledged reading is stored once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, sleep, waitFor } from './support/ports.ts';
import { Fleet } from './chaos/fleet.ts';
import { account, assertExactlyOnce } from './chaos/accounting.ts';
import { chaosGateway, pick, scenarioDir } from './chaos/setup.ts';

const notRoot = process.getuid?.() !== 0 ? 'mounting a tmpfs needs root' : false;

/** Writes zeros into `path` until the filesystem refuses (ENOSPC). */
function fill(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return written;
}

test('the data dir\'s filesystem full while Redis is down: 503 with Retry-After, no false ack, recovery when space returns', { skip: notRoot && !process.env.CI ? notRoot : false, timeout: 300_000 }, async () => {
  assert.equal(notRoot, false, String(notRoot));
  const dir = scenarioDir('disk');
  const data = join(dir.path, 'data');
  mkdirSync(data);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'iotgw-chaos-disk', data]);
  const redisDown = `redis://127.0.0.1:${await freePort()}`;
  const gw = chaosGateway({ dataDir: data, redisUrl: redisDown, gatewayId: 'gw-chaos-disk' });
  const filler = join(data, 'filler');
  try {
    await gw.start();
    const fleet = new Fleet({ url: () => gw.url, devices: 6, rate: 20, batch: 10, boot: `d${process.pid}` }).start();
    await waitFor(() => fleet.acked.size > 300, 30_000, 'readings stored before the disk fills');
    const rounds = pick(1, 3);
    for (let round = 0; round < rounds; round++) {
      fill(filler);
      const busyBefore = fleet.answers['503'] ?? 0;
      await waitFor(() => (fleet.answers['503'] ?? 0) > busyBefore + 20, 60_000, 'the gateway to answer 503 while the disk is full');
      const ackedWhileFull = fleet.acked.size;
      await sleep(2000);
      // A commit can still fit in pages the file already owns; most of the full time must be refusals.
      const res = await gw.post('/telemetry', Array.from({ length: 200 }, (_, i) => ({ device_id: 'probe', group_id: 'g', boot_id: `p${round}`, seq: i, pad: 'x'.repeat(500) })));
      assert.equal(res.status, 503, `a large batch on a full disk is refused, not acknowledged: ${res.status} ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, 'store_unavailable');
      assert.ok(Number(res.headers.get('retry-after')) >= 1, 'with Retry-After');
      assert.equal((await gw.get('/healthz')).status, 200, 'the daemon stays up');
      rmSync(filler);
      await waitFor(() => fleet.acked.size > ackedWhileFull + 200, 60_000, 'intake to recover once space returned');
    }
    await fleet.drain();
    const a = await account({ scenario: 'disk-full', fleet, sqlitePath: join(data, 'buffer.db'), gateway: gw });
    assertExactlyOnce(a, fleet);
    assert.equal(a.local, a.acked, 'all of it in the SQLite file (Redis was down throughout)');
    assert.match(String((await gw.get('/metrics')).body), /iotgw_readings_rejected_total\{reason="store_unavailable"\} [1-9]/);
    assert.equal(await gw.stop(), 0);
  } finally {
    await gw.kill();
    try { execFileSync('umount', [data]); } catch { /* not mounted */ }
    dir.cleanup();
  }
});
