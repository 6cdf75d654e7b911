/**
 * The soak (bench/soak.ts) in a CI-sized run: 20 boards and the misbehaving clients for 30 s. It
 * checks that the soak runs end to end, that every misbehaviour really happened and was refused
 * or cut off as the limits say, that the fleet's readings were all acknowledged, and that it
 * wrote a PNG and its samples. The bounds themselves (RSS, loop lag) are timings and memory:
 * they are judged by the 10-minute run in bench/ (BENCHMARKS.md), not asserted here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { tempDir } from './support/ports.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

test('the soak runs with misbehaving clients, plots RSS, handles and loop lag, and the fleet is fully acknowledged', { timeout: 300_000 }, async () => {
  const out = tempDir('iotgw-soak-');
  try {
    const proc = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/soak.ts'), '--minutes', '0.5', '--devices', '20', '--sample-s', '3', '--out', out.path], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    proc.stdout.on('data', (d) => { log += d; });
    proc.stderr.on('data', (d) => { log += d; });
    await new Promise((r) => proc.once('exit', r));
    const files = readdirSync(out.path);
    const json = files.find((f) => /^soak-\d{4}.*\.json$/.test(f));
    assert.ok(json && files.includes('soak-latest.png'), `soak wrote its results: ${files.join(', ')}\n${log.slice(-2000)}`);
    const r = JSON.parse(readFileSync(join(out.path, json), 'utf8'));
    assert.ok(r.samples.length >= 5, 'sampled over time');
    for (const s of r.samples) for (const k of ['rss_mb', 'fds', 'handles', 'lag_p99_ms']) assert.ok(Number.isFinite(s[k]), `${k} sampled: ${JSON.stringify(s)}`);
    const acked = r.fleet.reduce((n: number, f: any) => n + f.acked, 0);
    const produced = r.fleet.reduce((n: number, f: any) => n + f.produced, 0);
    assert.ok(produced > 0 && acked === produced, `the boards' readings were all acknowledged (${acked}/${produced})`);
    assert.ok(r.misbehaving.slow_connections > 0 && r.misbehaving.reconnects > 0, JSON.stringify(r.misbehaving));
    assert.ok(r.misbehaving.oversized_http_413 > 0 && r.misbehaving.oversized_ws_closed > 0, 'oversized bodies and messages were refused (413, close 1009)');
    assert.ok(r.bounds.fds_return.ok, `file descriptors came back once the clients left: ${JSON.stringify(r.bounds.fds_return)}`);
    const png = PNG.sync.read(readFileSync(join(out.path, 'soak-latest.png')));
    assert.ok(png.width >= 600 && png.height >= 600, 'a three-panel chart');
  } finally {
    out.cleanup();
  }
});
