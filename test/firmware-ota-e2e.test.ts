/**
 * Over-the-air updates end to end: the firmware's own update client (firmware/sim, the portable
 * core on sockets) against the real gateway process, published with the real `iotgw firmware`
 * CLI. Every reading a simulated board counts as acknowledged, in every boot (before the update,
 * on the new image, after a rollback), must be in the gateway's SQLite buffer, under the boot_id
 * and fw it was taken with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GatewayProcess } from './support/gateway-process.ts';
import { buildSim, runSim, type SimDevice, type SimResult } from './support/sim.ts';
import { tempDir, waitFor, sleep } from './support/ports.ts';
import { esp32Image, sha256, writeImage } from './support/firmware-image.ts';
import { sqliteRows } from './support/buffer-inspect.ts';
import { runIotgw } from './support/iotgw-cli.ts';

function iotgw(dataDir: string, ...args: string[]): string {
  const r = runIotgw(dataDir, ['firmware', ...args]);
  assert.equal(r.code, 0, `iotgw firmware ${args.join(' ')}: ${r.err}`);
  return r.out;
}

/** (boot_id, seq) → fw of every stored reading of one device, read from the documents themselves. */
function stored(dbPath: string, deviceId: string): Map<string, string | null> {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const docs = sqliteRows(db).filter((r) => r.device_id === deviceId).map((r) => JSON.parse(r.doc) as { boot_id: string; seq: number; fw?: string });
    return new Map(docs.map((d) => [`${d.boot_id}/${d.seq}`, d.fw ?? null]));
  } finally {
    db.close();
  }
}

function storedCount(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return sqliteRows(db).length;
  } finally {
    db.close();
  }
}

/** Every acknowledged reading of every boot is stored, with the firmware of the boot that took it. */
function assertNoAckedLost(dbPath: string, dev: SimDevice): number {
  const have = stored(dbPath, dev.device_id);
  let acked = 0;
  for (const boot of dev.boots) {
    for (const [a, b] of boot.acked_ranges) {
      for (let s = a; s <= b; s++) {
        const key = `${boot.boot_id}/${s}`;
        assert.ok(have.has(key), `${dev.device_id} ${key} was acknowledged but is not stored`);
        assert.equal(have.get(key), boot.fw, `${dev.device_id} ${key} carries the fw of its boot`);
        acked++;
      }
    }
  }
  return acked;
}

const events = (d: SimDevice): string[] => d.updates.map((e) => e.event);
const sim = (port: number, group: string, extra: string[]) => runSim(['--gateway', `127.0.0.1:${port}`, '--group', group, '--fw', '0.1.0', ...extra]);

test('5 boards of group A update to 0.2.0 published with iotgw firmware add, without losing an acknowledged reading; group B stays on 0.1.0', async () => {
  buildSim();
  const dir = tempDir();
  const files = tempDir();
  const dbPath = join(dir.path, 'buffer.db');
  const gw = await new GatewayProcess({ dataDir: dir.path }).start();
  try {
    const common = ['--rate', '4', '--duration', '14', '--drain', '60', '--ring', '500'];
    const a = sim(gw.port, 'A', ['--devices', '5', '--transport', 'http', ...common]);
    const b = sim(gw.port, 'B', ['--devices', '3', '--transport', 'ws', ...common]);
    a.done.catch(() => {});
    b.done.catch(() => {});
    await waitFor(() => storedCount(dbPath) >= 40, 30000, 'readings from both groups');
    const image = esp32Image(400_000, { text: '0.2.0' });
    const out = iotgw(dir.path, 'add', writeImage(files.path, 'firmware.bin', image), '--version', '0.2.0', '--group', 'A');
    assert.match(out, /took the change/);
    assert.equal(a.exited(), false, 'the image was published while the boards ran');

    const [ra, rb]: SimResult[] = await Promise.all([a.done, b.done]);
    let acked = 0;
    for (const dev of ra.device_list) {
      assert.equal(dev.fw, '0.2.0', `${dev.device_id} runs 0.2.0: ${JSON.stringify(dev.updates)}`);
      assert.deepEqual(dev.boots.map((x) => x.fw), ['0.1.0', '0.2.0']);
      assert.notEqual(dev.boots[0].boot_id, dev.boots[1].boot_id, 'a new boot_id after the update');
      assert.ok(events(dev).includes('confirmed'), 'the new image confirmed itself after an acknowledged reading');
      assert.ok(dev.boots[1].acked_ranges.length > 0, 'the new image had readings acknowledged');
      assert.equal(dev.pending, 0);
      acked += assertNoAckedLost(dbPath, dev);
    }
    for (const dev of rb.device_list) {
      assert.equal(dev.fw, '0.1.0');
      assert.equal(dev.boots.length, 1);
      assert.deepEqual(dev.updates, [], 'group B was never offered anything');
      acked += assertNoAckedLost(dbPath, dev);
    }
    assert.equal(acked, ra.acked + rb.acked, 'the ranges account for every acknowledged reading');
    assert.equal(ra.dropped + rb.dropped, 0);

    const devices = (await gw.get('/devices')).body.devices as { device_id: string; group_id: string; firmware: Record<string, unknown> }[];
    for (const d of devices.filter((x) => x.group_id === 'A')) {
      assert.deepEqual({ ...d.firmware, at: undefined }, { version: '0.2.0', target: '0.2.0', state: 'updated', reason: null, at: undefined }, d.device_id);
    }
    for (const d of devices.filter((x) => x.group_id === 'B')) assert.deepEqual(d.firmware, { version: '0.1.0', target: null, state: null, reason: null, at: null });
    const listed = (await gw.get('/firmware')).body.images[0];
    assert.equal(listed.version, '0.2.0');
    assert.deepEqual(listed.devices, { running: 5, pending: 0, downloading: 0, failed: 0, updated: 5, rolled_back: 0 });
    const metrics = (await gw.get('/metrics')).body as string;
    assert.match(metrics, /iotgw_firmware_devices\{state="updated"\} 5/);
    assert.match(metrics, /iotgw_firmware_downloads_total\{result="complete"\} 5/);
    assert.equal(listed.sha256, sha256(image), 'GET /firmware names the image by the SHA-256 of the file published');
  } finally {
    await gw.stop();
    files.cleanup();
    dir.cleanup();
  }
});

test('a board that cannot report from the new image rolls back; the gateway shows rolled_back and does not offer that image to it again', async () => {
  buildSim();
  const dir = tempDir();
  const files = tempDir();
  const dbPath = join(dir.path, 'buffer.db');
  const gw = await new GatewayProcess({ dataDir: dir.path }).start();
  try {
    // Published before the boards start: their first acknowledgement carries the offer.
    iotgw(dir.path, 'add', writeImage(files.path, 'bad.bin', esp32Image(60_000, { text: 'IOTGW-SIM:CANNOT-REPORT' })), '--version', '0.2.0');
    const r = await sim(gw.port, 'A', ['--devices', '2', '--transport', 'ws', '--rate', '4', '--duration', '10', '--drain', '60', '--confirm-timeout-ms', '2000']).done;
    for (const dev of r.device_list) {
      assert.deepEqual(dev.boots.map((x) => x.fw), ['0.1.0', '0.2.0', '0.1.0'], JSON.stringify(dev.updates));
      assert.equal(events(dev).filter((e) => e === 'download_started').length, 1, 'one download: never offered again after the rollback');
      assert.ok(events(dev).includes('rolled_back'));
      assert.equal(dev.fw, '0.1.0');
      assertNoAckedLost(dbPath, dev);
      const d = (await gw.get(`/devices/${dev.device_id}`)).body;
      assert.deepEqual({ ...d.firmware, at: undefined }, { version: '0.1.0', target: '0.2.0', state: 'rolled_back', reason: 'the new image could not report', at: undefined });
      assert.deepEqual((await gw.get(`/firmware/check?device_id=${dev.device_id}&group_id=A&version=0.1.0`)).body, { firmware: null });
    }
    const listed = (await gw.get('/firmware')).body.images[0];
    assert.deepEqual(Object.values(listed.refused), ['rolled_back', 'rolled_back']);
    assert.equal(listed.devices.rolled_back, 2);
    assert.match((await gw.get('/metrics')).body as string, /iotgw_firmware_devices\{state="rolled_back"\} 2/);
  } finally {
    await gw.stop();
    files.cleanup();
    dir.cleanup();
  }
});

test('an image damaged on the gateway after add is refused by the boards (sha256 mismatch), shown as failed; the gateway then finds its copy damaged and offers it no more', async () => {
  buildSim();
  const dir = tempDir();
  const files = tempDir();
  const gw = await new GatewayProcess({ dataDir: dir.path, config: { firmware: { max_failures: 2 } } }).start();
  try {
    const image = esp32Image(80_000, { text: '0.2.0' });
    iotgw(dir.path, 'add', writeImage(files.path, 'fw.bin', image), '--version', '0.2.0', '--group', 'A');
    // The copy in the data dir rots (same size, one byte flipped): the gateway serves it as is
    // (it does not hash it per download); the board's SHA-256 check catches it, and its report
    // makes the gateway hash its copy once.
    const stored = join(dir.path, 'firmware', `${sha256(image)}.bin`);
    const bytes = readFileSync(stored);
    bytes[5000] ^= 0xff;
    writeFileSync(stored, bytes);
    const r = await sim(gw.port, 'A', ['--devices', '2', '--rate', '4', '--duration', '12', '--drain', '30', '--failed-wait-ms', '1500']).done;
    for (const dev of r.device_list) {
      assert.equal(dev.fw, '0.1.0');
      assert.equal(dev.boots.length, 1, 'the damaged image never ran');
      assert.ok(!events(dev).includes('verified'));
      const failures = events(dev).filter((e) => e === 'failed').length;
      // Both boards may have fetched the image before the first report; never past max_failures.
      assert.ok(failures >= 1 && failures <= 2, `failed ${failures} times: ${JSON.stringify(dev.updates)}`);
      const d = (await gw.get(`/devices/${dev.device_id}`)).body;
      assert.deepEqual({ ...d.firmware, at: undefined }, { version: '0.1.0', target: '0.2.0', state: 'failed', reason: 'sha256 mismatch', at: undefined });
      assert.deepEqual((await gw.get(`/firmware/check?device_id=${dev.device_id}&group_id=A&version=0.1.0`)).body, { firmware: null });
    }
    const listed = (await gw.get('/firmware')).body.images[0];
    assert.equal(listed.rollout, 'damaged');
    assert.match(listed.damaged, /the gateway's copy has SHA-256/);
    assert.equal(listed.devices.failed, 2);
    const logged = await gw.waitForLog((l) => l.level === 50 && /firmware 0\.2\.0 is damaged on the gateway/.test(String(l.msg)));
    assert.ok(logged);
  } finally {
    await gw.stop();
    files.cleanup();
    dir.cleanup();
  }
});

test('the gateway killed (SIGKILL) in the middle of a download and started again: the boards resume with Range and finish', async () => {
  buildSim();
  const dir = tempDir();
  const files = tempDir();
  const dbPath = join(dir.path, 'buffer.db');
  // On loopback the kernel takes up to ~4 MB of a response before the board reads it, and a
  // killed process's sockets still deliver what they queued: only an image larger than that is
  // cut by the kill. Boards with a larger OTA slot are what firmware.max_image_bytes is for.
  const config = { firmware: { max_image_bytes: 12 * 1024 * 1024 } };
  let gw = await new GatewayProcess({ dataDir: dir.path, config }).start();
  const port = gw.port;
  try {
    const image = esp32Image(10 * 1024 * 1024, { text: '0.2.0' });
    iotgw(dir.path, 'add', writeImage(files.path, 'fw.bin', image), '--version', '0.2.0');
    const s = sim(port, 'A', ['--devices', '2', '--rate', '4', '--duration', '20', '--drain', '90', '--download-bps', '500000', '--max-image-bytes', String(12 * 1024 * 1024), '--ring', '1000']);
    s.done.catch(() => {});
    await waitFor(async () => {
      const devices = (await gw.get('/devices')).body.devices as { firmware: { state: string | null } }[];
      return devices.length === 2 && devices.every((d) => d.firmware.state === 'downloading');
    }, 30000, 'both boards downloading');
    await sleep(3000);
    await gw.kill();
    await sleep(1500);
    gw = await new GatewayProcess({ dataDir: dir.path, port, config }).start();
    const r = await s.done;
    for (const dev of r.device_list) {
      assert.equal(dev.fw, '0.2.0', JSON.stringify(dev.updates));
      assert.ok(events(dev).includes('download_resumed'), `resumed: ${JSON.stringify(dev.updates)}`);
      assert.ok(dev.update_stats.bytes < 2 * image.length, 'resumed where it stopped, not from the start');
      assertNoAckedLost(dbPath, dev);
      const d = (await gw.get(`/devices/${dev.device_id}`)).body;
      assert.equal(d.firmware.state, 'updated');
    }
  } finally {
    await gw.stop();
    files.cleanup();
    dir.cleanup();
  }
});
