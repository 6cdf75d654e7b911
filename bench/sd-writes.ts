/**
 * SD card writes per reading (issue 18): the real daemon (and, in Redis mode, a real redis-server
 * with the deploy/ settings: appendonly, everysec) fed a steady open-loop rate of the original
 * sketch's reading (bench/lib/payload.ts, 449 bytes of JSON) from 50 boards, as single readings
 * and as batches; `write_bytes` of /proc/<pid>/io of the gateway (all its threads: the
 * checkpoint worker, libuv's pool) and of redis-server over the measured seconds after a warm-up.
 * Each case starts a fresh gateway (and redis-server) in a fresh data dir on the real disk.
 *
 *   node --import tsx bench/sd-writes.ts [--modes sqlite,redis] [--rates 10,50,300] [--batch 10]
 *     [--seconds 20] [--warmup 5] [--cleanup 20000] [--build dist.mjs] [--set sqlite.x=1 ...] [--out file.json]
 *
 * Also the hourly cleanup, in-process: `--cleanup N` readings appended to a SqliteStore of the
 * current tree (default settings) in groups as intake makes them, then the uploader's
 * deleteWindow of that window; bytes written by the delete against bytes written by the intake
 * of the same readings. `write_bytes` counts pages dirtied towards the block device: the data dir
 * must be on a real disk (not tmpfs). The ext4 journal (jbd2) is not in it.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startGateway, type RunningServer } from './servers.ts';
import { openLoopHttp } from './lib/http-open-loop.ts';
import { sketchReading } from './lib/payload.ts';
import { tempDir } from '../test/support/ports.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    modes: { type: 'string', default: 'sqlite,redis' },
    rates: { type: 'string', default: '10,50,300' },
    batch: { type: 'string', default: '10' },
    shapes: { type: 'string', default: 'single,batch' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    cleanup: { type: 'string', default: '20000' },
    build: { type: 'string' },
    set: { type: 'string', multiple: true, default: [] },
    out: { type: 'string' },
    label: { type: 'string', default: '' },
  },
});

const BOARDS = 50;
const JSON_BYTES = Buffer.byteLength(JSON.stringify(sketchReading(0)));

export function procIo(pid: number | null): number {
  if (!pid) return 0;
  const m = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function settings(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of values.set!) {
    const i = kv.indexOf('=');
    const v = kv.slice(i + 1);
    out[kv.slice(0, i)] = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v;
  }
  return out;
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

interface CaseResult {
  mode: string;
  shape: 'single' | 'batch';
  batch: number;
  rate: number;
  readings: number;
  errors: number;
  seconds: number;
  gateway_bytes: number;
  redis_bytes: number;
  per_reading_bytes: number;
  x_json: number;
  gib_per_day: number;
  p50_ms: number;
  p99_ms: number;
  /** Redis mode: what one AOF rewrite (BGREWRITEAOF, done by a forked child that /proc/<pid>/io of redis-server does not count) writes, per buffered reading. */
  aof_rewrite_per_reading?: number;
}

async function runCase(mode: 'sqlite' | 'redis', shape: 'single' | 'batch', rate: number): Promise<CaseResult> {
  const batch = shape === 'single' ? 1 : Number(values.batch);
  const bodies = shape === 'single'
    ? Array.from({ length: BOARDS }, (_, i) => JSON.stringify(sketchReading(i)))
    : Array.from({ length: BOARDS }, (_, b) => JSON.stringify(Array.from({ length: batch }, (_, k) => sketchReading(b, 41 + k))));
  const server: RunningServer = await startGateway(mode, { wsInFlight: 64, settings: settings(), built: values.build });
  try {
    const reqRate = rate / batch;
    // One connection per board, as a site has: fewer would queue requests in the client while a
    // time-grouped commit holds theirs (at 50/s and 200 ms, 10 requests wait at once).
    const connections = BOARDS;
    await openLoopHttp({ url: server.httpUrl, bodies, connections, rate: reqRate, durationS: Number(values.warmup) });
    const g0 = procIo(server.pid);
    const r0 = procIo(server.redisPid);
    const t0 = performance.now();
    const res = await openLoopHttp({ url: server.httpUrl, bodies, connections, rate: reqRate, durationS: Number(values.seconds) });
    // In-flight commits and their fsyncs end within the drain of openLoopHttp; the checkpoints
    // they cause are part of the cost, so give the worker a moment too.
    await new Promise((r) => setTimeout(r, 500));
    const g1 = procIo(server.pid);
    const r1 = procIo(server.redisPid);
    const seconds = (performance.now() - t0) / 1000;
    const rewrite = server.redisUrl ? await aofRewriteBytes(server.redisUrl, server.redisDir!) : null;
    const readings = res.ok * batch;
    const bytes = g1 - g0 + (r1 - r0);
    const per = bytes / Math.max(1, readings);
    return {
      mode, shape, batch, rate, readings, errors: res.errors, seconds: +seconds.toFixed(1),
      gateway_bytes: g1 - g0, redis_bytes: r1 - r0,
      per_reading_bytes: Math.round(per), x_json: +(per / JSON_BYTES).toFixed(1),
      gib_per_day: +((per * rate * 86400) / 2 ** 30).toFixed(2),
      p50_ms: +pct(res.latencies, 50).toFixed(1), p99_ms: +pct(res.latencies, 99).toFixed(1),
      ...(rewrite ? { aof_rewrite_per_reading: Math.round(rewrite.bytes / Math.max(1, rewrite.readings)) } : {}),
    };
  } finally {
    await server.stop();
  }
}

/**
 * Runs BGREWRITEAOF and returns the size of the AOF's new base file (what the rewrite wrote) and
 * how many readings Redis held. Redis rewrites on its own each time the AOF doubles past 64 MB
 * (auto-aof-rewrite-*), so over time a rewrite adds about its base size per doubling.
 */
async function aofRewriteBytes(url: string, dir: string): Promise<{ bytes: number; readings: number }> {
  const { Redis } = await import('ioredis');
  const { readdirSync, statSync } = await import('node:fs');
  const redis = new Redis(url);
  try {
    let readings = 0;
    const { elementRecords } = await import('../gateway/buffer/redis-chunks.ts');
    for (const w of await redis.zrange('iotgw:windows', 0, -1)) readings += (await redis.lrange(`iotgw:l:${w}`, 0, -1)).reduce((s, e) => s + elementRecords(e).length, 0);
    await redis.bgrewriteaof();
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      const info = await redis.info('persistence');
      if (/aof_rewrite_in_progress:0/.test(info) && /aof_rewrite_scheduled:0/.test(info)) break;
    }
    const aofDir = join(dir, 'appendonlydir');
    const base = readdirSync(aofDir).filter((f) => f.includes('.base.'));
    return { bytes: base.reduce((s, f) => s + statSync(join(aofDir, f)).size, 0), readings };
  } finally {
    redis.disconnect();
  }
}

/** The hourly cleanup, in-process: intake of N readings in site-like groups, then the uploader's delete of the window. */
async function cleanupCase(n: number): Promise<Record<string, number>> {
  const { SqliteStore, SQLITE_MAX_POS } = await import('../gateway/buffer/sqlite-store.ts');
  const dir = tempDir('iotgw-sd-cleanup-');
  const store = new SqliteStore({ path: join(dir.path, 'buffer.db') });
  await store.open();
  try {
    const window = Date.UTC(2026, 0, 1, 10);
    const self = process.pid;
    const g0 = procIo(self);
    // 50 boards, one reading each per round: one round is one group commit of 50 single appends.
    let seq = 0;
    for (let round = 0; round * BOARDS < n; round++) {
      await Promise.all(Array.from({ length: BOARDS }, (_, b) => {
        const doc = sketchReading(b, round);
        const i = seq++;
        return store.append([{ id: `dev:${doc.device_id}/boot1/${round}`, device_id: String(doc.device_id), group_id: String(doc.group_id), window, received_at: window + i * 20, doc: doc as never }]);
      }));
    }
    await store.sync();
    const g1 = procIo(self);
    const deleted = await store.deleteWindow(window, SQLITE_MAX_POS);
    await store.sync();
    await new Promise((r) => setTimeout(r, 200));
    const g2 = procIo(self);
    return { readings: seq, deleted, intake_bytes: g1 - g0, cleanup_bytes: g2 - g1, cleanup_per_reading: Math.round((g2 - g1) / Math.max(1, deleted)), cleanup_pct_of_intake: +((100 * (g2 - g1)) / Math.max(1, g1 - g0)).toFixed(2) };
  } finally {
    await store.close();
    dir.cleanup();
  }
}

async function main(): Promise<void> {
  const results: CaseResult[] = [];
  const modes = values.modes!.split(',').filter(Boolean) as ('sqlite' | 'redis')[];
  const shapes = values.shapes!.split(',').filter(Boolean) as ('single' | 'batch')[];
  for (const mode of modes) {
    for (const shape of shapes) {
      for (const rate of values.rates!.split(',').map(Number)) {
        const r = await runCase(mode, shape, rate);
        results.push(r);
        console.log(`${mode.padEnd(6)} ${shape.padEnd(6)} x${String(r.batch).padEnd(3)} ${String(rate).padStart(4)} r/s: ${r.readings} readings, ${(r.per_reading_bytes / 1024).toFixed(2)} KiB/reading (gateway ${(r.gateway_bytes / Math.max(1, r.readings) / 1024).toFixed(2)}, redis ${(r.redis_bytes / Math.max(1, r.readings) / 1024).toFixed(2)}) = ${r.x_json}x the JSON, ${r.gib_per_day} GiB/day, ack p50 ${r.p50_ms} ms p99 ${r.p99_ms} ms${r.errors ? `, ${r.errors} errors` : ''}${r.aof_rewrite_per_reading !== undefined ? `; an AOF rewrite writes ${r.aof_rewrite_per_reading} B per buffered reading` : ''}`);
      }
    }
  }
  const n = Number(values.cleanup);
  const cleanup = n > 0 ? await cleanupCase(n) : null;
  if (cleanup) console.log(`cleanup (in-process SqliteStore): ${cleanup.readings} readings, intake ${(cleanup.intake_bytes / 2 ** 20).toFixed(1)} MiB, delete ${(cleanup.cleanup_bytes / 2 ** 20).toFixed(2)} MiB = ${cleanup.cleanup_per_reading} B/reading, ${cleanup.cleanup_pct_of_intake}% of the intake`);
  const out = { label: values.label, json_bytes: JSON_BYTES, argv: process.argv.slice(2), at: new Date().toISOString(), results, cleanup };
  const file = values.out ?? join(root, 'bench/results', `sd-writes-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(out, null, 2));
  console.log(`written ${file}`);
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
