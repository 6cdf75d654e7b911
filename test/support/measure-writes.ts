/**
 * SD card write budget: runs the real daemon (and a real redis-server with the deploy/ settings),
 * feeds it a steady rate of single-reading POSTs, and reads `write_bytes` from /proc/<pid>/io of
 * both processes before and after a measured window. Prints bytes per hour, extrapolated.
 *
 *   node --import tsx test/support/measure-writes.ts [--rate 50] [--seconds 120] [--store redis|sqlite] [--dir DIR] [--config FILE]
 *
 * `write_bytes` counts what a process sends towards the block device (page cache dirtied by
 * it), so DIR must be on a real disk, not tmpfs. Log lines are counted separately: under systemd
 * they go to journald, which writes them to /var/log/journal (or RAM with Storage=volatile).
 * Not a test: a timing belongs in bench/, and this is a figure for docs/operations.md.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GatewayProcess } from './gateway-process.ts';
import { TestRedis } from './redis.ts';
import { sleep } from './ports.ts';

const { values } = parseArgs({ options: { rate: { type: 'string', default: '50' }, seconds: { type: 'string', default: '120' }, store: { type: 'string', default: 'redis' }, dir: { type: 'string', default: '/var/tmp' }, warmup: { type: 'string', default: '15' }, config: { type: 'string' } } });
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const useRedis = values.store === 'redis';

function io(pid: number | undefined): { write_bytes: number; wchar: number } {
  if (!pid) return { write_bytes: 0, wchar: 0 };
  const text = readFileSync(`/proc/${pid}/io`, 'utf8');
  const get = (k: string) => Number(new RegExp(`^${k}: (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  return { write_bytes: get('write_bytes'), wchar: get('wchar') };
}

const fmt = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

async function main(): Promise<void> {
  const base = mkdtempSync(join(values.dir!, 'iotgw-writes-'));
  const redis = useRedis
    ? await new TestRedis({ appendonly: true, dir: base, extraArgs: ['--maxmemory', '256mb', '--maxmemory-policy', 'noeviction', '--aof-use-rdb-preamble', 'yes'] }).start()
    : null;
  const gw = await new GatewayProcess({ dataDir: join(base, 'data'), redisUrl: redis?.url ?? 'none', env: { IOTGW_LOG_LEVEL: 'info', ...(values.config ? { IOTGW_CONFIG: values.config } : {}) } });
  // GatewayProcess creates nothing itself; the daemon makes data_dir.
  await gw.start();
  const bootId = Math.random().toString(36).slice(2, 10);
  let seq = 0;
  let sent = 0;
  let failed = 0;
  const devices = 50;
  // Catch-up pacing: each tick sends whatever is due, so the rate holds even when timers drift.
  const startedAt = Date.now();
  const send = () => {
    const n = seq++;
    const reading = { device_id: `esp32-${String(n % devices).padStart(4, '0')}`, group_id: `group-${n % 5}`, device_type: 'esp32', boot_id: bootId, seq: Math.floor(n / devices), temperature_c: 20 + (n % 100) / 10, humidity: 40 + (n % 30), wifi_rssi: -60 - (n % 20), heap_free: 245000 - (n % 1000) };
    gw.post('/telemetry', reading).then((r) => { if (r.status < 300) sent++; else failed++; }, () => { failed++; });
  };
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - startedAt) / 1000) * rate);
    while (seq < due) send();
  }, 10);

  await sleep(warmup * 1000);
  const logBytes = () => gw.logs.reduce((s, l) => s + JSON.stringify(l).length + 1, 0);
  const g0 = io(gw.pid);
  const r0 = io(redis?.pid);
  const s0 = sent;
  const l0 = logBytes();
  const t0 = Date.now();
  await sleep(seconds * 1000);
  const g1 = io(gw.pid);
  const r1 = io(redis?.pid);
  const elapsed = (Date.now() - t0) / 1000;
  const readings = sent - s0;
  const l1 = logBytes();
  clearInterval(timer);
  await sleep(500);
  await gw.stop();
  await redis?.destroy();
  rmSync(base, { recursive: true, force: true });

  const perHour = (b: number) => (b * 3600) / elapsed;
  const gwBytes = g1.write_bytes - g0.write_bytes;
  const rBytes = r1.write_bytes - r0.write_bytes;
  const logs = l1 - l0;
  console.log(JSON.stringify({ store: values.store, config: values.config ?? null, rate_target: rate, readings, readings_per_s: +(readings / elapsed).toFixed(1), failed, elapsed_s: +elapsed.toFixed(1),
    daemon_write_bytes: gwBytes, redis_write_bytes: rBytes, log_bytes: logs }));
  console.log(`store ${values.store}: ${(readings / elapsed).toFixed(1)} readings/s over ${elapsed.toFixed(0)} s`);
  console.log(`  daemon (SQLite, files)  ${fmt(gwBytes)} -> ${fmt(perHour(gwBytes))}/hour`);
  if (redis) console.log(`  redis-server (AOF)      ${fmt(rBytes)} -> ${fmt(perHour(rBytes))}/hour`);
  console.log(`  log lines (journald)    ${fmt(logs)} -> ${fmt(perHour(logs))}/hour`);
  console.log(`  total                   ${fmt(perHour(gwBytes + rBytes + logs))}/hour, ${(perHour(gwBytes + rBytes + logs) * 24 / (1 << 30)).toFixed(2)} GiB/day`);
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
