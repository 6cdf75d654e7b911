// Harness for the upload tests (test/upload-*.test.ts), and a child-process driver for the
// crash and size tests: `node --import tsx test/support/upload-driver.ts <command>`.
//
//   serve   Buffer + Uploader as the daemon runs them (env IOTGW_* as for main.ts). Reads JSON
//           lines of readings on stdin; prints `{"ack": n}` once each batch is durable (the
//           contract of a 2xx), and the uploader's log lines. Honours IOTGW_TEST_PAUSE_AT.
//   big     Fills one closed window of the SQLite store with BIG_DEVICES × BIG_PER_DEVICE
//           readings, then runs one upload pass sampling RSS; prints one JSON result line.
import { Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { pino, type Logger } from 'pino';
import { MongoClient, type Document } from 'mongodb';
import { loadConfig, type Config } from '../../gateway/config.ts';
import { createMetrics, type Metrics } from '../../gateway/metrics.ts';
import { ReadingBuffer } from '../../gateway/buffer/buffer.ts';
import { Uploader } from '../../gateway/upload/uploader.ts';
import type { Reading } from '../../gateway/reading.ts';
import { tempDir } from './ports.ts';

export const HOUR = 3600_000;

/** A logger whose JSON lines land in `lines` (and on stdout when `echo`). */
export function captureLog(level = 'debug', echo = false): { log: Logger; lines: Record<string, any>[] } {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      const text = chunk.toString();
      for (const l of text.split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      if (echo) process.stdout.write(text);
      cb();
    },
  });
  return { log: pino({ level }, stream), lines };
}

export interface MakeOptions {
  /** Receive time of the first reading, epoch ms. */
  start: number;
  windowMs?: number;
  groups?: number;
  devices?: number;
  stepMs?: number;
  /** Prefix of reading ids (keep distinct between batches). */
  tag?: string;
}

/** Readings as intake builds them: doc with timestamp/status, window by receive time. */
export function makeReadings(n: number, o: MakeOptions): Reading[] {
  const { start, windowMs = HOUR, groups = 2, devices = 4, stepMs = 1000, tag = 'r' } = o;
  return Array.from({ length: n }, (_, i) => {
    const d = i % devices;
    const at = start + i * stepMs;
    const device_id = `dev-${String(d).padStart(3, '0')}`;
    const group_id = `grp-${d % groups}`;
    return {
      id: `${tag}:${i}`, device_id, group_id, window: Math.floor(at / windowMs) * windowMs, received_at: at,
      doc: { device_id, group_id, device_type: 'esp32', cpu: (i * 7) % 100, temp: 20 + (i % 10) / 10, timestamp: new Date(at).toISOString(), status: 'online' },
    };
  });
}

export interface Harness {
  config: Config;
  buffer: ReadingBuffer;
  uploader: Uploader;
  metrics: Metrics;
  lines: Record<string, any>[];
  dir: string;
  /** Closes uploader and buffer (not the temp dir). */
  close(): Promise<void>;
  /** Reopens buffer + uploader on the same files, as a restart does. */
  reopen(): Promise<Harness>;
  cleanup(): Promise<void>;
}

export async function openHarness(opts: { mongoUri: string | null; database: string; redisUrl?: string; overrides?: Record<string, unknown>; dir?: string }): Promise<Harness> {
  const tmp = opts.dir ? null : tempDir('iotgw-upload-');
  const dir = opts.dir ?? tmp!.path;
  const config = loadConfig({
    env: {},
    overrides: {
      data_dir: dir, gateway_id: 'gw-test', 'mongodb.uri': opts.mongoUri, 'mongodb.database': opts.database,
      'mongodb.server_selection_timeout_ms': 1500, 'mongodb.connect_timeout_ms': 1500,
      'redis.url': opts.redisUrl ?? 'none', 'upload.retry_base_ms': 1, 'upload.retry_max_ms': 50,
      'buffer.maintenance_interval_ms': 3600000,
      ...opts.overrides,
    },
  });
  const { log, lines } = captureLog();
  const metrics = createMetrics({ defaultMetrics: false });
  const buffer = new ReadingBuffer({ config, log, metrics });
  await buffer.open();
  const uploader = new Uploader({ config, log, metrics, buffer });
  const h: Harness = {
    config, buffer, uploader, metrics, lines, dir,
    close: async () => { await uploader.stop(1000); await buffer.close(); },
    reopen: async () => { await h.close(); return openHarness({ ...opts, dir }); },
    cleanup: async () => { await h.close(); tmp?.cleanup(); },
  };
  return h;
}

/** Reads what a test asserts on, through the real driver (works against MONGODB_URI too). */
export async function atlasContents(uri: string, database: string): Promise<{ parts: Document[]; groups: Document[]; rids: string[] }> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  try {
    const db = client.db(database);
    const parts = await db.collection('group_hours').find({}, { sort: { _id: 1 } }).toArray();
    const groups = await db.collection('device_groups').find({}, { sort: { group_id: 1 } }).toArray();
    return { parts, groups, rids: parts.flatMap((p) => (p.readings as { _rid: string }[]).map((r) => r._rid)) };
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------- child process commands

async function serve(): Promise<void> {
  const config = loadConfig({ env: process.env });
  const log = pino({ level: config.log.level === 'silent' ? 'info' : config.log.level });
  const metrics = createMetrics({ defaultMetrics: false });
  const buffer = new ReadingBuffer({ config, log, metrics });
  await buffer.open();
  const uploader = new Uploader({ config, log, metrics, buffer });
  uploader.start();
  const keepAlive = setInterval(() => {}, 1 << 30);
  const rl = createInterface({ input: process.stdin });
  let chain = Promise.resolve();
  rl.on('line', (line) => {
    if (!line.trim()) return;
    const readings = JSON.parse(line) as Reading[];
    chain = chain.then(async () => {
      await buffer.append(readings);
      process.stdout.write(`${JSON.stringify({ ack: readings.length, ids: readings.map((r) => r.id) })}\n`);
    });
  });
  const stop = async () => {
    clearInterval(keepAlive);
    await uploader.stop(2000);
    await buffer.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.stdout.write(`${JSON.stringify({ msg: 'ready' })}\n`);
}

async function big(): Promise<void> {
  const devices = Number(process.env.BIG_DEVICES ?? 300);
  const perDevice = Number(process.env.BIG_PER_DEVICE ?? 3600);
  const config = loadConfig({ env: process.env });
  const log = pino({ level: 'warn' });
  const metrics = createMetrics({ defaultMetrics: false });
  const buffer = new ReadingBuffer({ config, log, metrics });
  await buffer.open();
  const window = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
  const t0 = Date.now();
  const total = devices * perDevice;
  // Straight into the store (writeNow: one synchronous transaction per 5000 readings, no fsync
  // wait): the test is about the upload, not about filling. Same doc shape as intake writes; one
  // reading per device per second.
  const sqlite = buffer.stores.sqlite;
  const iso = (at: number) => new Date(at).toISOString();
  for (let x0 = 0; x0 < total; x0 += 5000) {
    const batch: Reading[] = [];
    for (let x = x0; x < Math.min(total, x0 + 5000); x++) {
      const d = x % devices;
      const device_id = `dev-${String(d).padStart(3, '0')}`;
      const group_id = `site-${d % 3}`;
      const at = window + Math.floor(x / devices) * 1000 + (d % 1000);
      batch.push({ id: `b:${x}`, device_id, group_id, window, received_at: at,
        doc: { device_id, group_id, device_type: 'esp32', cpu: x % 100, mem: (x * 13) % 1000, rssi: -40 - (x % 50), timestamp: iso(at), status: 'online' } as never });
    }
    sqlite.writeNow([batch]);
  }
  const filledMs = Date.now() - t0;
  const uploader = new Uploader({ config, log, metrics, buffer });
  const base = process.memoryUsage().rss;
  let peak = base;
  let heapPeak = 0;
  const samples: number[] = [];
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    samples.push(m.rss);
    if (m.rss > peak) peak = m.rss;
    if (m.heapUsed > heapPeak) heapPeak = m.heapUsed;
  }, 50);
  const t1 = Date.now();
  const report = await uploader.runOnce();
  clearInterval(sampler);
  const uploadMs = Date.now() - t1;
  await uploader.stop(0);
  await buffer.close();
  process.stdout.write(`${JSON.stringify({
    result: 'done', readings: report.readings, parts: report.parts, ok: report.ok, error: report.error, window,
    fill_ms: filledMs, upload_ms: uploadMs, rss_before_mb: mb(base), rss_peak_mb: mb(peak), heap_peak_mb: mb(heapPeak), rss_samples: samples.length,
    rss_p50_mb: mb(samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)] ?? base),
  })}\n`);
}

const mb = (n: number): number => Math.round(n / 1048576);

function isMain(): boolean {
  try {
    return !!process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  const cmd = process.argv[2];
  const run = cmd === 'serve' ? serve : cmd === 'big' ? big : null;
  if (!run) {
    process.stderr.write('usage: upload-driver.ts serve|big\n');
    process.exit(64);
  }
  run().catch((err) => {
    process.stderr.write(`upload-driver: ${err?.stack ?? err}\n`);
    process.exit(1);
  });
}
