/**
 * The simulator's update support (firmware/sim, the core's UpdateClient on sockets) against a
 * scripted counterpart that speaks the OTA protocol of docs/firmware-updates.md: offers in 202
 * bodies while a board reports another `fw`, `GET /firmware/<sha256>.bin` with Range, and no more
 * offers once a board reported `rolled_back`. This pins the simulator's command line and its
 * result JSON (boots, update events), which the end-to-end tests through the real gateway drive;
 * those tests check the gateway's side.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { spawn, execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './support/ports.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SIM = join(root, 'firmware/.build/iotgw-sim');

interface Reading { device_id: string; boot_id: string; seq: number; fw?: string; fw_update?: { state: string; version: string; reason?: string } }
interface SimBoot { boot_id: string; fw: string; produced: number; acked_ranges: [number, number][] }
interface SimEvent { t_ms: number; event: string; version: string; detail: string }
interface SimDevice { device_id: string; boot_id: string; fw: string; pending: number; boots: SimBoot[]; updates: SimEvent[]; update_stats: { resumes: number } }

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The gateway's protocol, scripted: one target version for every board, an image route with Range. */
class ScriptedGateway {
  readonly readings: Reading[] = [];
  readonly ranges: (string | undefined)[] = [];
  /** Bytes the image route serves (the offered image unless a test damages it). */
  served: Buffer;
  /** Drop the connection after this many body bytes, once. */
  cutOnceAfter = -1;
  private server: Server | null = null;
  private refused = new Set<string>();

  constructor(readonly version: string, readonly image: Buffer) {
    this.served = image;
  }

  async start(): Promise<number> {
    const port = await freePort();
    this.server = createServer((req, res) => {
      if (req.method === 'POST' && req.url === '/telemetry') {
        let body = '';
        req.on('data', (d) => { body += d; });
        req.on('end', () => {
          const readings = (JSON.parse(body) as { readings: Reading[] }).readings;
          this.readings.push(...readings);
          for (const r of readings) if (r.fw_update?.state === 'rolled_back') this.refused.add(r.device_id);
          const last = readings[readings.length - 1];
          const offer = last.fw !== this.version && !this.refused.has(last.device_id)
            ? { version: this.version, sha256: sha256(this.image), size: this.image.length } : null;
          // With Content-Length, as the gateway (fastify) answers: the board reads a body of known size.
          const reply = JSON.stringify({ accepted: readings.length, duplicates: 0, firmware: offer });
          res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply) });
          res.end(reply);
        });
        return;
      }
      const m = /^\/firmware\/([0-9a-f]{64})\.bin\?device_id=esp32-[0-9a-f]{12}$/.exec(req.url ?? '');
      if (req.method === 'GET' && m && m[1] === sha256(this.image)) {
        this.ranges.push(req.headers.range);
        const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
        const body = this.served.subarray(from);
        res.writeHead(from > 0 ? 206 : 200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
        if (this.cutOnceAfter >= 0) {
          const n = this.cutOnceAfter;
          this.cutOnceAfter = -1;
          res.write(body.subarray(0, n), () => res.destroy());
          return;
        }
        res.end(body);
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    return port;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server!.close(() => resolve()));
  }

  stored(device: string, boot: string): Reading[] {
    return this.readings.filter((r) => r.device_id === device && r.boot_id === boot);
  }
}

function runSim(port: number, extra: string[]): Promise<SimDevice[]> {
  const proc = spawn(SIM, ['--gateway', `127.0.0.1:${port}`, '--devices', '2', '--rate', '5', '--duration', '3',
    '--drain', '30', '--group', 'A', '--fw', '0.1.0', '--confirm-timeout-ms', '2000', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`iotgw-sim exited ${code}: ${err}`));
      resolve((JSON.parse(out.trim().split('\n').pop()!) as { device_list: SimDevice[] }).device_list);
    });
  });
}

/** Every reading the simulator counts as acknowledged reached the gateway under its own boot_id and fw. */
function assertAckedStored(gw: ScriptedGateway, dev: SimDevice): void {
  for (const boot of dev.boots) {
    const stored = gw.stored(dev.device_id, boot.boot_id);
    const seqs = new Set(stored.map((r) => r.seq));
    for (const [a, b] of boot.acked_ranges) for (let s = a; s <= b; s++) assert.ok(seqs.has(s), `${boot.boot_id} seq ${s} stored`);
    for (const r of stored) assert.equal(r.fw, boot.fw, 'a reading carries the firmware of the boot that took it');
  }
}

const events = (dev: SimDevice): string[] => dev.updates.map((e) => e.event);

test('the simulator updates: downloads, verifies, reboots with a new boot_id, confirms after an acked reading', async () => {
  execFileSync('bash', [join(root, 'firmware/sim/build.sh')], { stdio: 'inherit' });
  const gw = new ScriptedGateway('0.2.0', Buffer.alloc(150000, 7));
  const port = await gw.start();
  try {
    for (const dev of await runSim(port, [])) {
      assert.equal(dev.fw, '0.2.0');
      assert.deepEqual(dev.boots.map((b) => b.fw), ['0.1.0', '0.2.0']);
      assert.notEqual(dev.boots[0].boot_id, dev.boots[1].boot_id);
      assert.equal(dev.boot_id, dev.boots[1].boot_id);
      assert.deepEqual(events(dev), ['offered', 'download_started', 'verified', 'rebooted', 'confirmed']);
      assert.equal(dev.pending, 0);
      assertAckedStored(gw, dev);
      const first = gw.stored(dev.device_id, dev.boots[1].boot_id)[0];
      assert.deepEqual(first.fw_update, { state: 'updated', version: '0.2.0' });
    }
  } finally {
    await gw.stop();
  }
});

test('an image the simulator recognises as "cannot report" rolls back and reports rolled_back', async () => {
  const gw = new ScriptedGateway('0.2.0', Buffer.concat([Buffer.from('IOTGW-SIM:CANNOT-REPORT'), Buffer.alloc(5000, 1)]));
  const port = await gw.start();
  try {
    for (const dev of await runSim(port, [])) {
      assert.equal(dev.fw, '0.1.0');
      assert.deepEqual(dev.boots.map((b) => b.fw), ['0.1.0', '0.2.0', '0.1.0']);
      assert.deepEqual(events(dev), ['offered', 'download_started', 'verified', 'rebooted', 'rolled_back']);
      assertAckedStored(gw, dev);
      // The trial image took readings it could not send; they went out later under its boot_id.
      assert.ok(gw.stored(dev.device_id, dev.boots[1].boot_id).length > 0);
      const report = gw.stored(dev.device_id, dev.boots[2].boot_id)[0];
      assert.deepEqual(report.fw_update, { state: 'rolled_back', version: '0.2.0', reason: 'the new image could not report' });
    }
  } finally {
    await gw.stop();
  }
});

test('an image whose hash does not match is refused by the simulator and reported as failed', async () => {
  const image = Buffer.alloc(40000, 3);
  const gw = new ScriptedGateway('0.2.0', image);
  gw.served = Buffer.from(image);
  gw.served[1234] ^= 0xff; // damaged on the way
  const port = await gw.start();
  try {
    for (const dev of await runSim(port, [])) {
      assert.equal(dev.fw, '0.1.0');
      assert.equal(dev.boots.length, 1);
      assert.ok(events(dev).includes('failed'));
      assert.ok(!events(dev).includes('verified'));
      const failed = gw.readings.find((r) => r.device_id === dev.device_id && r.fw_update?.state === 'failed');
      assert.deepEqual(failed?.fw_update, { state: 'failed', version: '0.2.0', reason: 'sha256 mismatch' });
    }
  } finally {
    await gw.stop();
  }
});

test('a download cut off in the middle resumes with Range where it stopped', async () => {
  const gw = new ScriptedGateway('0.2.0', Buffer.alloc(200000, 5));
  gw.cutOnceAfter = 70000;
  const port = await gw.start();
  try {
    const devs = await runSim(port, []);
    assert.ok(gw.ranges.some((r) => r !== undefined && /^bytes=[1-9]\d*-$/.test(r)), `a Range request: ${gw.ranges.join(' ')}`);
    const resumed = devs.find((d) => events(d).includes('download_resumed'));
    assert.ok(resumed, 'one device resumed');
    assert.ok(resumed.update_stats.resumes >= 1);
    for (const dev of devs) assert.equal(dev.fw, '0.2.0');
  } finally {
    await gw.stop();
  }
});
