/**
 * Bytes the gateway allocates per request under load, and where: the daemon (compiled build,
 * unit flags) takes closed-loop single readings (or batches) while V8's sampling heap profiler
 * records every allocation, collected or not. Sampled every 256 bytes; ArrayBuffer backing
 * stores (a Buffer's bytes) live outside the V8 heap and are not in it.
 *
 *   node --import tsx bench/alloc-profile.ts [--mode redis|sqlite|baseline] [--load http|batch] [--seconds 5] [--top 25]
 *
 * `--mode baseline` profiles the plain node:http baseline server (bench/baseline-server.ts) the
 * same way: the allocations any Node HTTP intake makes.
 *
 * Profiling slows the gateway, so the request rate printed is not a throughput figure.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startBaseline, startGateway } from './servers.ts';
import { httpLoad } from './load.ts';
import { batchBodies, singleBodies } from './lib/payload.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'redis' },
    load: { type: 'string', default: 'http' },
    seconds: { type: 'string', default: '5' },
    top: { type: 'string', default: '25' },
  },
});
const mode = values.mode;
if (mode !== 'redis' && mode !== 'sqlite' && mode !== 'baseline') throw new Error('--mode must be redis, sqlite or baseline');

interface HeapNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children: HeapNode[] }
interface HeapProfile { head: HeapNode; samples: { size: number; nodeId: number }[] }

const dir = mkdtempSync(join(tmpdir(), 'iotgw-alloc-'));
const out = join(dir, 'gateway.heapprofile');
const preload = join(dirname(fileURLToPath(import.meta.url)), 'lib/heap-sampling-preload.mjs');
const srv = mode === 'baseline'
  ? await startBaseline({ IOTGW_BENCH_HEAP_OUT: out, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${preload}` })
  : await startGateway(mode, { wsInFlight: 64, nodeOptions: `--import=${preload}`, env: { IOTGW_BENCH_HEAP_OUT: out } });
const batch = values.load === 'batch';
const load = { url: srv.httpUrl, bodies: batch ? batchBodies(50) : singleBodies(), readingsPerRequest: batch ? 50 : 1, connections: 32 };
let requests = 0;
try {
  await httpLoad({ ...load, durationS: 2 }); // warm-up: JIT and the first windows
  process.kill(srv.pid, 'SIGUSR2');
  requests = (await httpLoad({ ...load, durationS: Number(values.seconds) })).requests;
  process.kill(srv.pid, 'SIGUSR2');
  for (let i = 0; i < 200 && !existsSync(out); i++) await new Promise((r) => setTimeout(r, 100));
} finally {
  await srv.stop();
}
const profile = JSON.parse(readFileSync(out, 'utf8')) as HeapProfile;
rmSync(dir, { recursive: true, force: true });

const nodes = new Map<number, HeapNode>();
(function index(n: HeapNode): void { nodes.set(n.id, n); n.children.forEach(index); })(profile.head);
const label = (n: HeapNode): string => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^file:\/\/.*\//, '')}:${n.callFrame.lineNumber + 1}`;
const bySite = new Map<string, number>();
let total = 0;
for (const s of profile.samples) {
  total += s.size;
  const site = label(nodes.get(s.nodeId)!);
  bySite.set(site, (bySite.get(site) ?? 0) + s.size);
}
const perRequest = (bytes: number): string => Math.round(bytes / Math.max(1, requests)).toLocaleString('en-US').padStart(8);
process.stdout.write(`${mode} mode, ${values.load} load: ${requests} requests profiled, ${perRequest(total).trim()} bytes allocated per request\n`);
process.stdout.write('bytes/request  allocation site (self)\n');
for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) process.stdout.write(`${perRequest(bytes)}       ${site}\n`);
