/**
 * SqliteStore's append path in-process, apart from HTTP: N concurrent writers, each appending one
 * sketch reading (built by intake's own `toReadings`) and awaiting its durable answer before the
 * next, as 32 HTTP connections do. A real file on disk, `synchronous: full` (the WAL fsynced on
 * the thread pool). Prints appends/s, readings per commit, the time inside the transaction per
 * row, bytes written per reading (`wchar` of /proc/self/io) and the ack latency.
 *
 *   node --import tsx bench/sqlite-append-loop.ts [--writers 32] [--seconds 5] [--group-commit-ms 0]
 *        [--ids time|uuid] [--work-us 0] [--autocheckpoint N] [--dir /var/tmp]
 *
 * `--ids uuid` mints receipt ids as plain v4 UUIDs, as the gateway did before time-ordered ids;
 * `--work-us` burns that much CPU per append before it, standing in for HTTP and intake;
 * `--autocheckpoint 0` turns SQLite's checkpoints off (the WAL then grows without bound: an
 * experiment, not a setting). Figures for BENCHMARKS.md; never a test.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { SqliteStore } from '../gateway/buffer/sqlite-store.ts';
import { fsyncFd } from '../gateway/buffer/wal-sync.ts';
import type { Reading } from '../gateway/reading.ts';
import { singleBodies } from './lib/payload.ts';
import { intakeReadings } from './lib/intake.ts';

const { values } = parseArgs({
  options: {
    writers: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '5' },
    'group-commit-ms': { type: 'string', default: '0' },
    ids: { type: 'string', default: 'time' },
    'work-us': { type: 'string', default: '0' },
    autocheckpoint: { type: 'string' },
    'no-checkpoint-worker': { type: 'boolean', default: false },
    dir: { type: 'string', default: '/var/tmp' },
  },
});
const writers = Number(values.writers);
const seconds = Number(values.seconds);
const workMs = Number(values['work-us']) / 1000;
const bodies = singleBodies().map((b) => JSON.parse(b) as unknown);

let n = 0;
function reading(): Reading {
  const [r] = intakeReadings(structuredClone(bodies[n++ % bodies.length]));
  if (values.ids === 'uuid') r.id = `rcv:${randomUUID()}/0`;
  return r;
}

const wchar = (): number => Number(/wchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
const dir = mkdtempSync(join(values.dir, 'iotgw-sqlite-loop-'));
let fsyncs = 0;
let fsyncNs = 0n;
const store = new SqliteStore({
  path: join(dir, 'buffer.db'),
  groupCommitMs: Number(values['group-commit-ms']),
  checkpointer: values['no-checkpoint-worker'] ? false : undefined,
  syncWal: async (fd) => { const t = process.hrtime.bigint(); await fsyncFd(fd); fsyncs++; fsyncNs += process.hrtime.bigint() - t; },
});
await store.open();
if (values.autocheckpoint !== undefined) store.db.pragma(`wal_autocheckpoint = ${Number(values.autocheckpoint)}`);

// Time inside the transaction (statements, COMMIT, any checkpoint it triggers), per row.
const inner = store as unknown as { write(groups: { readings: Reading[] }[]): number[] };
const write = inner.write.bind(store);
let writeNs = 0n;
let writeMaxNs = 0n;
let rows = 0;
inner.write = (groups) => {
  const t = process.hrtime.bigint();
  const out = write(groups);
  const d = process.hrtime.bigint() - t;
  writeNs += d;
  if (d > writeMaxNs) writeMaxNs = d;
  for (const g of groups) rows += g.readings.length;
  return out;
};

const latencies: number[] = [];
const commits0 = store.commits;
const w0 = wchar();
const cpu0 = process.cpuUsage();
const end = Date.now() + seconds * 1000;
await Promise.all(Array.from({ length: writers }, async () => {
  while (Date.now() < end) {
    await new Promise((r) => setImmediate(r));
    const spun = performance.now();
    while (performance.now() - spun < workMs) { /* stands in for HTTP and intake */ }
    const t = performance.now();
    await store.append([reading()]);
    latencies.push(performance.now() - t);
  }
}));
const cpu = process.cpuUsage(cpu0);
const done = latencies.length;
const commits = store.commits - commits0;
latencies.sort((a, b) => a - b);
const checkpointer = store.walCheckpointer;
const worker = checkpointer ? { starts: checkpointer.starts, copies: checkpointer.copies } : null;
await store.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({
  writers, group_commit_ms: Number(values['group-commit-ms']), ids: values.ids, work_us: Number(values['work-us']), autocheckpoint: values.autocheckpoint ?? 'default',
  appends_per_s: Math.round(done / seconds),
  readings_per_commit: +(rows / commits).toFixed(1),
  txn_us_per_row: +(Number(writeNs) / 1e3 / rows).toFixed(1),
  txn_max_ms: +(Number(writeMaxNs) / 1e6).toFixed(1),
  kb_written_per_reading: +((wchar() - w0) / 1024 / done).toFixed(1),
  fsync_ms: +(Number(fsyncNs) / 1e6 / Math.max(1, fsyncs)).toFixed(2),
  cpu_us_per_reading: +((cpu.user + cpu.system) / done).toFixed(1),
  ack_p50_ms: +latencies[done >> 1].toFixed(2),
  ack_p99_ms: +latencies[Math.floor(done * 0.99)].toFixed(2),
  checkpoint_worker: worker,
}));
