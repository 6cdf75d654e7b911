/**
 * What firmware offers add to intake's hot path, in-process: `Intake.accept` (validation, auth,
 * rate limit, the durable sink, the observers, the offer) on the sketch's reading with `fw`, for
 * 300 devices in 10 groups, against a sink that answers at once, so intake's own CPU is all that
 * is measured. Four variants, interleaved in rounds in one process:
 *   - `no-offers`:   intake without an offer source (the gateway before OTA);
 *   - `none-published`: offers on, nothing published (most sites);
 *   - `up-to-date`:  an image published for every group, every board already runs it (after a rollout);
 *   - `offering`:    every board runs another version: each ack carries an offer.
 * Prints ns per reading (median of the rounds) and the ratio to `no-offers`. For BENCHMARKS.md;
 * never a test.
 *
 *   node --import tsx bench/firmware-offer-cost.ts [--rounds 9] [--per-round 30000]
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfig } from '../gateway/config.ts';
import { createLogger } from '../gateway/log.ts';
import { createMetrics } from '../gateway/metrics.ts';
import { Intake } from '../gateway/ingest/intake.ts';
import { TrafficStats } from '../gateway/status/traffic.ts';
import { Inventory } from '../gateway/inventory/inventory.ts';
import { FirmwareStore } from '../gateway/firmware/image-store.ts';
import { Rollout } from '../gateway/firmware/rollout.ts';
import type { Reading } from '../gateway/reading.ts';
import { sketchReading, FLEET_DEVICES } from './lib/payload.ts';
import { esp32Image, writeImage } from '../test/support/firmware-image.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '9' }, 'per-round': { type: 'string', default: '30000' } } });
const rounds = Number(values.rounds);
const perRound = Number(values['per-round']);

const dir = mkdtempSync(join(tmpdir(), 'iotgw-offer-bench-'));
const config = loadConfig({ env: {}, overrides: { data_dir: dir, 'log.level': 'silent', 'ingest.rate_limit.per_device_per_second': 0, 'ingest.rate_limit.per_address_per_second': 0 } });
const log = createLogger('silent');
const sink = { append: async (r: Reading[]) => ({ stored: r.length, duplicates: 0 }) };

async function variant(name: string, publish: boolean, offers: boolean, fw: string) {
  const vdir = join(dir, name);
  const metrics = createMetrics();
  const intake = new Intake({ ...config, data_dir: vdir }, sink, metrics, new TrafficStats(), log, null);
  const inventory = new Inventory({ config, log, metrics, dbPath: null, tickMs: 0, persistIntervalMs: 0 });
  await inventory.start();
  const store = new FirmwareStore(vdir);
  const rollout = new Rollout(store, () => 3, log);
  if (publish) await store.add({ file: writeImage(dir, `${name}.bin`, esp32Image(100_000, { text: '0.2.0', fill: name.length })), version: '0.2.0' });
  if (offers) {
    intake.offerFirmware((readings) => rollout.offerForBatch(readings), () => undefined);
    inventory.useFirmwareTargets((g) => rollout.target(g)?.version ?? null);
  }
  intake.observe({ recordReadings: (readings, address) => { if (offers) rollout.observe(readings); inventory.recordReadings(readings, address); } });
  const bodies = Array.from({ length: FLEET_DEVICES }, (_, i) => ({ ...sketchReading(i), fw }));
  let offered = 0;
  const run = async (): Promise<number> => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) {
      const body = { ...bodies[i % bodies.length], seq: i, boot_id: 'b0' };
      const r = await intake.accept(body, { key: null, transport: 'http', remoteAddress: '10.0.0.5' });
      if (r.firmware) offered++;
    }
    return Number(process.hrtime.bigint() - t) / perRound;
  };
  // The decision alone, on readings intake built: what the hot path gained, apart from the noise of the rest.
  const built: Reading[][] = [];
  const probe = new Intake({ ...config, data_dir: vdir }, { append: async (r: Reading[]) => { built.push(r); return { stored: r.length, duplicates: 0 }; } }, createMetrics(), new TrafficStats(), log, null);
  for (const b of bodies) await probe.accept({ ...b, seq: 1, boot_id: 'b0' }, { key: null, transport: 'http' });
  const decide = (): number => {
    const n = 1_000_000;
    let hits = 0;
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (rollout.offerForBatch(built[i % built.length]) !== null) hits++;
    return Number(process.hrtime.bigint() - t) / n + hits * 0;
  };
  return { name, run, decide, offers, offered: () => offered };
}

const variants = [
  await variant('no-offers', false, false, '0.1.0'),
  await variant('none-published', false, true, '0.1.0'),
  await variant('up-to-date', true, true, '0.2.0'),
  await variant('offering', true, true, '0.1.0'),
];
const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
for (const v of variants) await v.run(); // warm-up
for (let r = 0; r < rounds; r++) for (const v of variants) samples.get(v.name)!.push(await v.run());
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(samples.get('no-offers')!);
console.log(`Intake.accept of one sketch reading with fw, ${rounds} rounds x ${perRound}, median ns/reading:`);
for (const v of variants) {
  const m = median(samples.get(v.name)!);
  console.log(`${v.name.padEnd(16)} ${m.toFixed(0).padStart(7)} ns   x${(m / base).toFixed(3)}   +${(m - base).toFixed(0)} ns   acks with an offer: ${v.offered()}`);
}
console.log('rollout.offerForBatch alone (1,000,000 calls), ns/call:');
for (const v of variants.filter((x) => x.offers)) {
  const xs = Array.from({ length: 5 }, () => v.decide());
  console.log(`${v.name.padEnd(16)} ${median(xs).toFixed(1).padStart(7)} ns`);
}
rmSync(dir, { recursive: true, force: true });
