/**
 * A/B of two gateway configurations in one run: both daemons run side by side (each with its own
 * redis-server in Redis mode) and take the same closed-loop load in alternating slices, the order
 * flipped every round, so the shared machine's background load hits both alike. Prints each
 * round's readings/s and CPU per 100k readings (gateway + its redis-server) and the median B/A.
 * For a setting's effect the noisy absolute figures of two separate runs cannot show.
 *
 *   node --import tsx bench/ab.ts --mode sqlite --b sqlite.group_commit_ms=2 [--a key=value,...]
 *        [--rounds 8] [--slice 2] [--load http|batch] [--connections 32]
 *
 * Values are parsed as JSON when they parse (numbers, booleans), else taken as strings.
 *
 * Two versions of the code instead: build the other one into dist/ beside the current build
 * (`git stash; node scripts/build.mjs; cp dist/iotgw.mjs dist/iotgw-a.mjs; git stash pop`; the
 * bundle resolves its dependencies from node_modules, so it must stay in dist/) and pass
 * `--a-build dist/iotgw-a.mjs`; a side without `--x-build` runs the current tree's build.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { startGateway, type RunningServer } from './servers.ts';
import { httpLoad } from './load.ts';
import { batchBodies, singleBodies } from './lib/payload.ts';
import { cpuSeconds } from './lib/proc.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'redis' },
    a: { type: 'string', default: '' },
    b: { type: 'string', default: '' },
    'a-build': { type: 'string' },
    'b-build': { type: 'string' },
    rounds: { type: 'string', default: '8' },
    slice: { type: 'string', default: '2' },
    load: { type: 'string', default: 'http' },
    connections: { type: 'string', default: '32' },
  },
});
if (values.mode !== 'redis' && values.mode !== 'sqlite') throw new Error('--mode must be redis or sqlite');
const mode = values.mode;

function settings(spec: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of spec.split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`setting "${pair}": expected key=value`);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try { value = JSON.parse(raw); } catch { /* a plain string */ }
    out[pair.slice(0, eq)] = value;
  }
  return out;
}

const batch = values.load === 'batch';
const bodies = batch ? batchBodies(50) : singleBodies();
const perRequest = batch ? 50 : 1;
const connections = Number(values.connections);
const cpuOf = (s: RunningServer): number => (cpuSeconds(s.pid) ?? 0) + (s.redisPid ? cpuSeconds(s.redisPid) ?? 0 : 0);

const side = (spec: string, build: string | undefined): Promise<RunningServer> =>
  startGateway(mode, { wsInFlight: 64, settings: settings(spec), built: build ? resolve(build) : undefined });
const servers = { A: await side(values.a, values['a-build']), B: await side(values.b, values['b-build']) };
const rate: Record<'A' | 'B', number[]> = { A: [], B: [] };
const cpu: Record<'A' | 'B', number[]> = { A: [], B: [] };
try {
  for (const s of Object.values(servers)) await httpLoad({ url: s.httpUrl, bodies, readingsPerRequest: perRequest, connections, durationS: 1 });
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const k of (round % 2 ? ['B', 'A'] : ['A', 'B']) as ('A' | 'B')[]) {
      const before = cpuOf(servers[k]);
      const r = await httpLoad({ url: servers[k].httpUrl, bodies, readingsPerRequest: perRequest, connections, durationS: Number(values.slice) });
      rate[k].push(r.readings_per_s);
      cpu[k].push(((cpuOf(servers[k]) - before) / Math.max(1, r.readings)) * 1e5);
    }
  }
} finally {
  await servers.A.stop();
  await servers.B.stop();
}

const median = (v: number[]): number => [...v].sort((x, y) => x - y)[v.length >> 1];
const ratios = (m: Record<'A' | 'B', number[]>): number[] => m.B.map((v, i) => v / m.A[i]);
for (const k of ['A', 'B'] as const) {
  const build = values[k === 'A' ? 'a-build' : 'b-build'];
  process.stdout.write(`${k} ${(k === 'A' ? values.a : values.b) || '(defaults)'}${build ? ` build ${build}` : ''}\n  readings/s ${rate[k].map(Math.round).join(' ')}\n  CPU s/100k ${cpu[k].map((v) => v.toFixed(2)).join(' ')}\n`);
}
process.stdout.write(`B/A readings/s per round ${ratios(rate).map((v) => v.toFixed(2)).join(' ')}; median ${median(ratios(rate)).toFixed(3)}; CPU per reading B/A median ${median(ratios(cpu)).toFixed(3)}\n`);
