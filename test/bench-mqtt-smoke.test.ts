/**
 * A CI-sized run of the MQTT benchmark (bench/mqtt.ts): the aedes baseline and the gateway in
 * SQLite mode, one short slice each, and a 200-message bridge backlog. It checks only that the
 * harness runs end to end and writes well-formed results; no figure is compared with anything
 * (timings belong in bench/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './support/ports.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

test('the MQTT benchmark runs a reduced set and writes well-formed results', { timeout: 300_000 }, () => {
  const out = tempDir('iotgw-bench-mqtt-smoke-');
  try {
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench/mqtt.ts'), '--duration', '1', '--rounds', '1', '--connections', '2', '--modes', 'sqlite', '--bridge', '200', '--out', out.path], { cwd: root, encoding: 'utf8', timeout: 280_000 });
    assert.equal(run.status, 0, run.stderr.slice(-3000));
    const files = readdirSync(out.path);
    assert.equal(files.filter((f) => /^\d{4}-\d{2}-\d{2}T.*\.json$/.test(f)).length, 1, 'one timestamped result file');
    const doc = JSON.parse(readFileSync(join(out.path, 'latest.json'), 'utf8'));
    assert.equal(doc.schema, 'iotgw-bench-mqtt/1');
    assert.deepEqual(doc.servers.map((s: { name: string }) => s.name), ['baseline', 'sqlite']);
    for (const s of doc.servers) {
      assert.ok(s.messages > 0, `${s.name} acknowledged messages`);
      assert.equal(s.errors, 0, `${s.name} without errors`);
      assert.equal(typeof s.ratio.messages_per_s, 'number');
    }
    assert.deepEqual(doc.bridge.map((b: { name: string; messages: number }) => [b.name, b.messages]), [['baseline', 200], ['sqlite', 200]], 'the bridge backlog drained by both subscribers');
    assert.match(run.stdout, /\| sqlite \| [\d,.]+ \| [\d.]+× \|/, 'a table with the ratio is printed');
  } finally {
    out.cleanup();
  }
});
