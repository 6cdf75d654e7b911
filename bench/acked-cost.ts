/**
 * The acknowledged-record's cost (gateway/buffer/acked-ledger.ts, issue 21 item 1):
 *   1. bytes per device: the serialized record (what Redis's `acked` hash and SQLite's `acked`
 *      table hold per device) and the ledger's heap per device, for typical and bound-filling
 *      histories;
 *   2. the in-memory check + add per reading (what Buffer.append does for each keyed reading);
 *   3. the store write with and without the record, same process, same keyed sketch readings
 *      (boot_id + seq), 32 writers each awaiting its durable answer, slices alternated A/B/B/A:
 *      SQLite (a real file, `synchronous: full`) and Redis (a redis-server, appendonly everysec).
 *      CPU per reading is this process's (+ redis-server's), bytes per reading are `wchar` of
 *      this process (SQLite) or the AOF's growth (Redis).
 *
 *   node --import tsx --expose-gc bench/acked-cost.ts [--seconds 3] [--rounds 4] [--writers 32] [--dir /var/tmp]
 *
 * Figures for BENCHMARKS.md; never a test.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AckedLedger, recordsWith } from '../gateway/buffer/acked-ledger.ts';
import { SqliteStore } from '../gateway/buffer/sqlite-store.ts';
import { RedisStore } from '../gateway/buffer/redis-store.ts';
import type { Reading } from '../gateway/reading.ts';
import { singleBodies, FLEET_DEVICES } from './lib/payload.ts';
import { intakeReadings } from './lib/intake.ts';
import { cpuSeconds } from './lib/proc.ts';
import { TestRedis } from '../test/support/redis.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '4' },
    writers: { type: 'string', default: '32' },
    dir: { type: 'string', default: '/var/tmp' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const writers = Number(values.writers);
const T0 = Date.UTC(2026, 11, 5);
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

// 1. Bytes per device.
function histories(): { name: string; build: (l: AckedLedger, d: string) => void }[] {
  const boot = (b: number): string => `k3f9${b.toString(36)}`;
  return [
    { name: 'one boot, 3,600 seqs in order (an hour at 1/s)', build: (l, d) => { for (let s = 0; s < 3600; s++) l.add(d, boot(0), s, T0 + s * 1000); } },
    { name: 'one boot, 604,800 seqs (7 days at 1/s) with 4 gaps', build: (l, d) => { for (let s = 0; s < 604_800; s += 1) if (s % 150_000 !== 7) l.add(d, boot(0), s, T0 + s * 1000); } },
    { name: '4 boots (3 reboots), 900 seqs each', build: (l, d) => { for (let b = 0; b < 4; b++) for (let s = 0; s < 900; s++) l.add(d, boot(b), s, T0 + (b * 900 + s) * 1000); } },
    { name: '16 boots (the bound), 32 intervals each (the bound)', build: (l, d) => { for (let b = 0; b < 16; b++) for (let s = 0; s < 64; s += 2) l.add(d, boot(b), 1_000_000 + s, T0 + (b * 64 + s) * 1000); } },
  ];
}

const keep: AckedLedger[] = [];
/** Heap growth per device of a ledger holding `devices` devices built alike (kept reachable while measured). */
function heapPerDevice(build: (l: AckedLedger, d: string) => void, devices: number): number {
  const ids = Array.from({ length: devices }, (_, i) => `esp32-${(0xa1b2c3d40000 + i).toString(16)}`);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const l = new AckedLedger();
  for (const id of ids) build(l, id);
  keep.push(l);
  gc();
  gc();
  const per = (process.memoryUsage().heapUsed - before) / devices;
  keep.length = 0;
  return per;
}

console.log('## 1. bytes per device');
console.log('| history | serialized record (bytes) | ledger heap per device (bytes, 2,000 devices) |');
console.log('|---|---:|---:|');
for (const h of histories()) {
  const one = new AckedLedger();
  h.build(one, 'esp32-a1b2c3d40000');
  const bytes = Buffer.byteLength(one.serialize('esp32-a1b2c3d40000'));
  // Heap per device: a cheap history for the big one (the heap does not depend on how many seqs an interval covers).
  const light = h.name.startsWith('one boot, 604') ? histories()[0] : h;
  const heap = heapPerDevice(light.build, 2000);
  console.log(`| ${h.name} | ${bytes} | ${Math.round(heap)} |`);
}

// 2. In-memory check + add per reading.
{
  const l = new AckedLedger();
  const n = 3_000_000;
  const ids = Array.from({ length: FLEET_DEVICES }, (_, i) => `esp32-${(0xa1b2c3d40000 + i).toString(16)}`);
  const next = new Array<number>(FLEET_DEVICES).fill(0);
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const d = i % FLEET_DEVICES;
    const seq = next[d]++;
    if (!l.has(ids[d], 'k3f9', seq)) l.add(ids[d], 'k3f9', seq, T0 + i);
  }
  const ns = Number(process.hrtime.bigint() - t) / n;
  console.log(`\n## 2. ledger has() + add() per new reading, ${FLEET_DEVICES} devices in turn: ${ns.toFixed(0)} ns`);
}

// 3. The store write with and without the record.
const bodies = singleBodies().map((b) => JSON.parse(b) as Record<string, unknown>);
const seqs = new Array<number>(bodies.length).fill(0);
let k = 0;
function keyedReading(): Reading {
  const i = k++ % bodies.length;
  const [r] = intakeReadings({ ...structuredClone(bodies[i]), boot_id: 'k3f9', seq: seqs[i]++ });
  return r;
}

interface Side {
  name: string;
  append(r: Reading): Promise<unknown>;
  ledger?: AckedLedger;
}

/** As the Buffer does: the durable record plus the call's readings (recordsWith), added to the ledger once written. */
const recordsFor = (ledger: AckedLedger) => (appends: readonly (readonly Reading[])[]): [string, string][] =>
  recordsWith(ledger, (visit) => {
    for (const rs of appends) for (const r of rs) visit(r.device_id, (r.doc as unknown as { boot_id: string }).boot_id, (r.doc as unknown as { seq: number }).seq);
  }, Date.now());

const wchar = (): number => Number(/wchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);

async function slice(side: Side, extraCpu: () => number, bytes: () => number): Promise<{ readings: number; cpu: number; bytes: number }> {
  const end = Date.now() + seconds * 1000;
  let readings = 0;
  const cpu0 = process.cpuUsage();
  const x0 = extraCpu();
  const b0 = bytes();
  await Promise.all(Array.from({ length: writers }, async () => {
    while (Date.now() < end) {
      const r = keyedReading();
      await side.append(r);
      if (side.ledger) {
        const { boot_id, seq } = r.doc as unknown as { boot_id: string; seq: number };
        side.ledger.add(r.device_id, boot_id, seq, Date.now());
      }
      readings++;
    }
  }));
  const c = process.cpuUsage(cpu0);
  return { readings, cpu: (c.user + c.system) / 1e6 + (extraCpu() - x0), bytes: bytes() - b0 };
}

async function ab(label: string, a: Side, b: Side, extraCpu: () => number, bytes: () => number): Promise<void> {
  const sum = { A: { readings: 0, cpu: 0, bytes: 0 }, B: { readings: 0, cpu: 0, bytes: 0 } };
  await slice(a, extraCpu, bytes);
  await slice(b, extraCpu, bytes);
  for (let r = 0; r < rounds; r++) {
    for (const key of (r % 2 ? ['B', 'A'] : ['A', 'B']) as ('A' | 'B')[]) {
      const res = await slice(key === 'A' ? a : b, extraCpu, bytes);
      sum[key].readings += res.readings;
      sum[key].cpu += res.cpu;
      sum[key].bytes += res.bytes;
    }
  }
  const row = (s: typeof sum.A, name: string): string =>
    `| ${label} | ${name} | ${Math.round(s.readings / (rounds * seconds))} | ${((s.cpu / s.readings) * 1e6).toFixed(1)} | ${Math.round(s.bytes / s.readings)} |`;
  console.log(row(sum.A, a.name));
  console.log(row(sum.B, b.name));
  const perA = sum.A.cpu / sum.A.readings;
  const perB = sum.B.cpu / sum.B.readings;
  console.log(`| ${label} | B/A | ${(sum.B.readings / sum.A.readings).toFixed(3)}x | ${(perB / perA).toFixed(3)}x (${((perB - perA) * 1e6).toFixed(1)} µs) | ${(sum.B.bytes / sum.B.readings - sum.A.bytes / sum.A.readings).toFixed(0)} |`);
}

console.log(`\n## 3. store writes of keyed sketch readings, ${writers} writers, ${rounds} rounds of ${seconds} s per side`);
console.log('| store | side | readings/s | CPU µs per reading | bytes written per reading |');
console.log('|---|---|---:|---:|---:|');
{
  const dir = mkdtempSync(join(values.dir, 'iotgw-acked-'));
  const ledger = new AckedLedger();
  const plain = new SqliteStore({ path: join(dir, 'a.db'), checkpointer: {} });
  const withRecord = new SqliteStore({ path: join(dir, 'b.db'), checkpointer: {}, ackedRecords: recordsFor(ledger) });
  await plain.open();
  await withRecord.open();
  await ab('SQLite', { name: 'A: without the record', append: (r) => plain.append([r]) }, { name: 'B: with the record', append: (r) => withRecord.append([r]), ledger }, () => 0, wchar);
  await plain.close();
  await withRecord.close();
  rmSync(dir, { recursive: true, force: true });
}
{
  const ra = await new TestRedis({ appendonly: true }).start();
  const rb = await new TestRedis({ appendonly: true }).start();
  const ledger = new AckedLedger();
  const plain = new RedisStore({ url: ra.url, writeTimeoutMs: 5000 });
  const withRecord = new RedisStore({ url: rb.url, writeTimeoutMs: 5000, ackedRecords: recordsFor(ledger) });
  await plain.open();
  await withRecord.open();
  const aof = (dir: string): number => {
    let total = 0;
    const walk = (p: string): void => {
      for (const e of readdirSync(p, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(p, e.name));
        else if (e.name.includes('.aof')) total += statSync(join(p, e.name)).size;
      }
    };
    walk(dir);
    return total;
  };
  const redisCpu = (): number => (cpuSeconds(ra.pid!) ?? 0) + (cpuSeconds(rb.pid!) ?? 0);
  // Only the side that runs moves its redis-server's CPU and AOF, so the sums attribute to it.
  await ab('Redis', { name: 'A: without the record', append: (r) => plain.append([r]) }, { name: 'B: with the record', append: (r) => withRecord.append([r]), ledger }, redisCpu, () => aof(ra.dir) + aof(rb.dir));
  await plain.close();
  await withRecord.close();
  await ra.destroy();
  await rb.destroy();
}
