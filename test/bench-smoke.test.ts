/**
 * A CI-sized run of the benchmark harness (bench/run.ts): one HTTP scenario against the gateway in
 * SQLite mode with its baseline, and a small upload, about a second per phase. It checks only that
 * the harness runs end to end and writes well-formed results: no figure is compared with anything,
 * because timings belong in bench/ (DESIGN.md), never in a test's assertion.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './support/ports.ts';
import { validateResults, type BenchResults } from '../bench/lib/schema.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/run.ts'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    proc.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('the benchmark harness runs a reduced scenario set and writes well-formed results', { timeout: 300_000 }, async () => {
  const out = tempDir('iotgw-bench-smoke-');
  try {
    const run = await runBench(['--duration', '1', '--connections', '4', '--only', 'http-sqlite,upload', '--upload-readings', '3000', '--upload-devices', '30', '--out', out.path, '--no-markdown']);
    assert.equal(run.code, 0, `bench exited ${run.code}\n${run.stderr.slice(-3000)}`);

    const files = readdirSync(out.path);
    assert.ok(files.includes('latest.json'), `latest.json written (got ${files.join(', ')})`);
    const stamped = files.filter((f) => /^\d{4}-\d{2}-\d{2}T.*\.json$/.test(f));
    assert.equal(stamped.length, 1, 'one timestamped result file');
    const latest = readFileSync(join(out.path, 'latest.json'), 'utf8');
    assert.equal(readFileSync(join(out.path, stamped[0]), 'utf8'), latest, 'latest.json is a copy of the run');

    const doc = JSON.parse(latest) as BenchResults;
    assert.deepEqual(validateResults(doc), [], 'results match the schema');
    assert.deepEqual(doc.scenarios.map((s) => s.id).sort(), ['http-baseline', 'http-sqlite'], 'the selected scenario and its baseline ran');
    assert.deepEqual(doc.servers.map((s) => s.name).sort(), ['baseline', 'sqlite']);
    for (const s of doc.scenarios) {
      assert.ok(s.ratio, `${s.id} has ratios to its baseline`);
      assert.equal(s.half_rate.mode, 'rate');
      assert.equal(s.max.mode, 'max');
      if (s.server === 'baseline') assert.equal(s.baseline_same_rate, null);
      else assert.equal(s.baseline_same_rate?.target_rate, s.half_rate.target_rate, `${s.id}: the baseline was driven at the same rate`);
    }
    assert.ok(doc.upload, 'upload section present');
    assert.equal(doc.upload.error, null, `upload ran: ${doc.upload.error}`);
    assert.equal(doc.upload.gateway?.readings, 3000, 'the gateway uploaded every pre-filled reading');
    assert.equal(doc.upload.baseline.readings, 3000, 'the baseline inserted the same number of documents');
    assert.ok(doc.goals.some((g) => g.id === 'sqlite_vs_redis' && g.met === null), 'goals not measured in this run are marked, not guessed');
    assert.match(run.stdout, /goals:/, 'a table with the goals is printed');
    assert.ok(!existsSync(join(out.path, 'BENCHMARKS.md')));
  } finally {
    out.cleanup();
  }
});
