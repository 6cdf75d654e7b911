/**
 * Turning a run into the product's published numbers: the goals of issue 8 checked against the
 * measured figures, a console table, and the generated results section of BENCHMARKS.md.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { validateResults } from './lib/schema.ts';
import type { BenchResults, Goal, ScenarioResult } from './lib/schema.ts';

const find = (r: BenchResults, id: string): ScenarioResult | undefined => r.scenarios.find((s) => s.id === id);
const ratio = (a: number | undefined, b: number | undefined): number | null => (a !== undefined && b !== undefined && b > 0 ? round(a / b, 3) : null);
export const round = (v: number, d = 2): number => Math.round(v * 10 ** d) / 10 ** d;

function goal(id: string, text: string, value: number | null, op: '>=' | '<', threshold: number, unit = '×'): Goal {
  return { id, text, value: value === null ? null : round(value, 3), op, threshold, unit, met: value === null ? null : op === '>=' ? value >= threshold : value < threshold };
}

export function computeGoals(r: BenchResults): Goal[] {
  const rps = (id: string): number | undefined => find(r, id)?.max.readings_per_s;
  const wsb = ratio(rps('ws-baseline'), rps('http-baseline'));
  const wsBase = wsb === null ? '' : ` (the baselines in the same run: ${wsb.toFixed(2)}×)`;
  const goals: Goal[] = [
    goal('http_redis_vs_baseline', 'HTTP single reading, Redis mode ≥ 0.5× plain node:http', ratio(rps('http-redis'), rps('http-baseline')), '>=', 0.5),
    goal('sqlite_vs_redis', 'HTTP single reading, SQLite mode ≥ 0.8× Redis mode', ratio(rps('http-sqlite'), rps('http-redis')), '>=', 0.8),
    goal('batch_redis_readings', 'HTTP batches of 50, Redis mode ≥ 100,000 readings/s', rps('batch-redis') ?? null, '>=', 100_000, 'readings/s'),
    goal('batch_sqlite_readings', 'HTTP batches of 50, SQLite mode ≥ 100,000 readings/s', rps('batch-sqlite') ?? null, '>=', 100_000, 'readings/s'),
    goal('ws_redis_vs_http', `WebSocket (per-message acks) ≥ 5× HTTP single, Redis mode${wsBase}`, ratio(rps('ws-redis'), rps('http-redis')), '>=', 5),
    goal('ws_sqlite_vs_http', `WebSocket (per-message acks) ≥ 5× HTTP single, SQLite mode${wsBase}`, ratio(rps('ws-sqlite'), rps('http-sqlite')), '>=', 5),
  ];
  for (const s of r.scenarios.filter((x) => x.server !== 'baseline')) {
    const base = find(r, `${s.load}-baseline`);
    const yardstick = [
      s.baseline_same_rate ? `the baseline at the same rate: ${fmt(s.baseline_same_rate.p99_ms, 1)} ms` : null,
      base ? `at its own half rate: ${fmt(base.half_rate.p99_ms, 1)} ms` : null,
    ].filter(Boolean).join('; ');
    goals.push(goal(`p99_${s.id}`, `p99 at half the max rate < 10 ms: ${s.id}${yardstick ? ` (${yardstick})` : ''}`, s.half_rate.p99_ms, '<', 10, 'ms'));
  }
  for (const srv of r.servers.filter((x) => x.name !== 'baseline')) {
    goals.push(goal(`rss_idle_${srv.name}`, `RSS idle < 90 MB: gateway, ${srv.name} mode`, srv.rss_idle_mb, '<', 90, 'MB'));
    goals.push(goal(`rss_load_${srv.name}`, `RSS under full load < 150 MB: gateway, ${srv.name} mode`, srv.rss_peak_mb, '<', 150, 'MB'));
  }
  if (r.upload) {
    goals.push(goal('rss_upload', `RSS during the ${(r.upload.readings / 1e6).toFixed(2)}M-reading upload < 200 MB`, r.upload.gateway?.rss_peak_mb ?? null, '<', 200, 'MB'));
    goals.push(goal('upload_vs_insertmany', 'Upload ≥ 0.7× raw driver insertMany of the same readings', r.upload.ratio, '>=', 0.7));
  }
  return goals;
}

const fmt = (v: number | null | undefined, d = 0): string => (v === null || v === undefined ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const x = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${v.toFixed(2)}×`);

function scenarioRows(r: BenchResults): string[][] {
  return r.scenarios.map((s) => [
    s.id,
    fmt(s.max.requests_per_s), fmt(s.max.readings_per_s), x(s.ratio?.readings_per_s),
    fmt(s.half_rate.target_rate), fmt(s.half_rate.p50_ms, 2), fmt(s.half_rate.p99_ms, 2), x(s.ratio?.p99_ms), fmt(s.baseline_same_rate?.p99_ms, 2),
    fmt(s.rss_peak_mb, 1), x(s.ratio?.rss_peak),
    fmt(s.cpu_s_per_100k, 2), x(s.ratio?.cpu_per_100k),
    s.redis ? `${fmt(s.redis.cpu_s_per_100k, 2)} s / ${fmt(s.redis.rss_peak_mb, 1)} MB` : '–',
    fmt(s.max.errors + s.half_rate.errors),
  ]);
}

const HEAD = ['scenario', 'req/s (max)', 'readings/s', '× base', 'half rate', 'p50 ms', 'p99 ms', 'p99 × base', 'base p99 at this rate ms', 'RSS peak MB', '× base', 'CPU s/100k', '× base', 'redis-server CPU/100k, RSS', 'errors'];

export function consoleReport(r: BenchResults): string {
  const rows = [HEAD, ...scenarioRows(r)];
  const widths = HEAD.map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row: string[]): string => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [line(HEAD), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line), ''];
  for (const s of r.servers) out.push(`${s.name.padEnd(9)} RSS idle ${fmt(s.rss_idle_mb, 1)} MB, peak ${fmt(s.rss_peak_mb, 1)} MB${s.redis_rss_idle_mb !== null ? `, redis-server idle ${fmt(s.redis_rss_idle_mb, 1)} MB` : ''}${s.failovers_to_sqlite ? `, FAILED OVER to SQLite ${s.failovers_to_sqlite}×` : ''}`);
  if (r.loader) out.push(loaderLine(r));
  if (r.upload) out.push('', ...uploadLines(r).map((l) => l.replace(/\*\*/g, '')));
  out.push('', 'goals:');
  for (const g of r.goals) out.push(`  ${g.met === null ? ' n/a' : g.met ? ' met' : 'MISS'}  ${g.text}: ${fmt(g.value, g.unit === '×' ? 2 : g.unit === 'readings/s' ? 0 : 1)} ${g.unit}`);
  return out.join('\n');
}

function loaderLine(r: BenchResults): string {
  const l = r.loader!;
  return l.error
    ? `loader cost not measured: ${l.error}`
    : `idle RSS: plain node ${fmt(l.plain_node_idle_mb, 1)} MB, node + tsx ${fmt(l.tsx_node_idle_mb, 1)} MB, the gateway (SQLite mode) bundled with esbuild and run by plain node ${fmt(l.gateway_compiled_idle_mb, 1)} MB`;
}

function uploadLines(r: BenchResults): string[] {
  const u = r.upload!;
  const lines = [`Upload of one window, ${fmt(u.readings)} readings (${u.devices} devices), from ${u.store} (${u.method}):`];
  const side = (name: string, s: typeof u.baseline | null): string => (s
    ? `- **${name}**: ${fmt(s.readings_per_s)} readings/s (${fmt(s.seconds, 1)} s, ${fmt(s.documents)} documents), CPU ${fmt(s.cpu_s, 1)} s, peak RSS ${fmt(s.rss_peak_mb, 1)} MB; wire server CPU ${fmt(s.server_cpu_s, 1)} s`
    : `- **${name}**: not measured${u.error ? ` (${u.error})` : ''}`);
  lines.push(side('gateway uploader', u.gateway), side('raw driver insertMany', u.baseline));
  lines.push(`- ratio gateway / insertMany: **${x(u.ratio)}**`);
  return lines;
}

/**
 * The results section from the newest run with intake scenarios and the newest run with an upload
 * (they may be the same run): a full run takes longer than the shared machines should be loaded
 * at a stretch, so `--only http,batch,ws` and `--only upload` can be run separately. Every ratio
 * is still within one run.
 */
export function markdownFromDir(dir: string, root: string): string {
  const runs = readdirSync(dir).filter((f) => /^\d{4}-.*\.json$/.test(f)).sort().reverse()
    .map((f) => ({ file: join(dir, f), doc: JSON.parse(readFileSync(join(dir, f), 'utf8')) as BenchResults }))
    .filter((x) => validateResults(x.doc).length === 0 && !x.doc.options.gateway_patch); // experiments are not the published figures
  const intake = runs.find((x) => x.doc.scenarios.length > 0);
  const upload = runs.find((x) => x.doc.upload !== null);
  const parts: string[] = [];
  // Goals are recomputed from the stored figures, so the section follows the current goal wording.
  if (intake) parts.push(markdownResults({ ...intake.doc, upload: null, goals: computeGoals({ ...intake.doc, upload: null }) }, relative(root, intake.file)));
  if (upload && upload !== intake) {
    parts.push(`### Upload\n\nRun of ${upload.doc.started_at} (commit ${upload.doc.git.commit?.slice(0, 10) ?? 'unknown'}${upload.doc.git.dirty ? ', uncommitted changes' : ''}), load average ${upload.doc.host.loadavg_start.map((l) => l.toFixed(1)).join('/')} at the start. Raw data: \`${relative(root, upload.file)}\`.`);
    parts.push(uploadLines(upload.doc).join('\n'));
    const g = computeGoals({ ...upload.doc, scenarios: [], servers: [] }).filter((x) => x.id === 'rss_upload' || x.id === 'upload_vs_insertmany');
    parts.push(`| goal | measured | met |\n|---|---:|---:|\n${g.map((x) => `| ${x.text} | ${fmt(x.value, x.unit === '×' ? 2 : 1)} ${x.unit} | ${x.met === null ? 'not measured' : x.met ? 'yes' : '**no**'} |`).join('\n')}`);
  } else if (upload && intake && upload === intake) {
    parts[0] = markdownResults(intake.doc, relative(root, intake.file));
  }
  return parts.join('\n\n');
}

export function markdownResults(r: BenchResults, file: string): string {
  const table = (head: string[], rows: string[][]): string[] => [
    `| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
  const o = r.options;
  if (r.scenarios.length === 0) return r.upload ? [...uploadLines(r), ''].join('\n') : '';
  const out = [
    `Run of ${r.started_at} (commit ${r.git.commit?.slice(0, 10) ?? 'unknown'}${r.git.dirty ? ', uncommitted changes' : ''}), ${r.host.cpus} × ${r.host.cpu_model}, Node ${r.host.node}; ` +
      `load average ${r.host.loadavg_start.map((l) => l.toFixed(1)).join('/')} at the start (the machine is shared: read the ratios, not the absolute figures). ` +
      `max phase ${o.duration_s} s per server in ${o.rounds} slices interleaved with the other servers, half-rate phase ${o.duration_s} s, after ${o.warmup_s} s of warm-up; ${o.connections} connections, WebSocket window ${o.ws_window} per connection, batches of ${o.batch_size}, ${o.devices} simulated devices; gateway node flags from the systemd unit: ${o.gateway_node_flags ? `\`${o.gateway_node_flags}\`` : 'none'}. Raw data: \`${file}\`.`,
    '',
    ...table(HEAD, scenarioRows(r)),
    '',
    ...table(['process', 'RSS idle MB', 'RSS peak MB', 'RSS after the load MB', 'redis-server idle MB', 'failovers to SQLite'], r.servers.map((s) => [s.name, fmt(s.rss_idle_mb, 1), fmt(s.rss_peak_mb, 1), fmt(s.rss_after_mb, 1), fmt(s.redis_rss_idle_mb, 1), fmt(s.failovers_to_sqlite)])),
    '',
  ];
  if (r.loader) out.push(`${loaderLine(r)} (the gateway figures above are the compiled build, dist/iotgw.mjs, which bin/iotgw.js runs, with the unit's V8 flags; this line is without them).`, '');
  if (r.upload) out.push(...uploadLines(r), '');
  out.push(...piEstimate(r, table), '');
  out.push(...table(['goal', 'measured', 'met'], r.goals.map((g) => [g.text, `${fmt(g.value, g.unit === '×' ? 2 : g.unit === 'readings/s' ? 0 : 1)} ${g.unit}`, g.met === null ? 'not measured' : g.met ? 'yes' : '**no**'])));
  return out.join('\n');
}

/** Pi 4 core ≈ 1/PI_FACTOR of a core here; see BENCHMARKS.md, "Raspberry Pi 4". */
export const PI_FACTOR = 4;
const SITE_READINGS_PER_S = 300;

function piEstimate(r: BenchResults, table: (h: string[], rows: string[][]) => string[]): string[] {
  const rows = r.scenarios.filter((s) => s.server !== 'baseline').map((s) => {
    const pi = s.cpu_s_per_100k * PI_FACTOR;
    const redisPi = (s.redis?.cpu_s_per_100k ?? 0) * PI_FACTOR;
    return [
      s.id, fmt(s.cpu_s_per_100k, 2) + (s.redis ? ` + ${fmt(s.redis.cpu_s_per_100k, 2)}` : ''),
      fmt(pi, 1) + (s.redis ? ` + ${fmt(redisPi, 1)}` : ''),
      pi > 0 ? fmt(100_000 / pi) : '–',
      pi > 0 ? `${fmt((SITE_READINGS_PER_S * (pi + redisPi) * 100) / 100_000, 1)} %` : '–',
    ];
  });
  if (rows.length === 0) return [];
  return [
    `Raspberry Pi 4 estimate, derived from the CPU figures above (not measured on a Pi): one Cortex-A72 core at 1.5 GHz taken as 1/${PI_FACTOR} of one core here (see "Raspberry Pi 4" above for the assumption). The gateway is one Node thread, so one Pi core bounds its intake; redis-server runs on another core.`,
    '',
    ...table(['scenario', 'CPU s/100k here (gateway + redis-server)', `on a Pi 4 (×${PI_FACTOR})`, 'readings/s one Pi core sustains', `Pi CPU for a ${SITE_READINGS_PER_S}-device site (1 reading/s each), % of one core`], rows),
  ];
}

export const RESULTS_START = '<!-- bench:results:start (generated by `npm run bench`; edit outside these markers) -->';
export const RESULTS_END = '<!-- bench:results:end -->';

/** Replaces the generated section of BENCHMARKS.md, keeping everything hand-written around it. */
export function updateBenchmarksMd(path: string, section: string): void {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : `# Benchmarks\n\n## Results\n\n${RESULTS_START}\n${RESULTS_END}\n`;
  const a = text.indexOf(RESULTS_START);
  const b = text.indexOf(RESULTS_END);
  const block = `${RESULTS_START}\n${section}\n${RESULTS_END}`;
  const next = a >= 0 && b > a ? text.slice(0, a) + block + text.slice(b + RESULTS_END.length) : `${text.trimEnd()}\n\n## Results\n\n${block}\n`;
  writeFileSync(path, next);
}
