import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { utimesSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, freePort, waitFor } from './support/ports.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cleanEnv = (extra: Record<string, string>) => {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ...extra };
  for (const k of ['MONGODB_URI', 'IOTGW_MONGODB_URI', 'IOTGW_REDIS_URL', 'NOTIFY_SOCKET', 'IOTGW_CONFIG']) if (!(k in extra)) delete env[k];
  return env;
};
const iotgw = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'gateway/main.ts', ...args], { cwd: root, env: cleanEnv(env), encoding: 'utf8' });

test('`npm start` with no Redis and no MongoDB starts, accepts a reading, and warns once for each missing part', async () => {
  const dir = tempDir();
  const port = await freePort();
  const proc = spawn('npm', ['start', '--silent'], { cwd: root, env: cleanEnv({ IOTGW_DATA_DIR: dir.path, IOTGW_PORT: String(port), IOTGW_HOST: '127.0.0.1', IOTGW_DISCOVERY: 'off' }), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  try {
    await waitFor(() => out.includes('"msg":"listening"'), 30000, 'the gateway to listen');
    const res = await fetch(`http://127.0.0.1:${port}/telemetry`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ device_id: 'first', group_id: 'g', t: 20.5 }) });
    assert.equal(res.status, 202);
    assert.deepEqual(await res.json(), { accepted: 1, duplicates: 0 });
  } finally {
    process.kill(-proc.pid!, 'SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    dir.cleanup();
  }
  const warnings = out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.level === 40).map((l) => l.msg as string);
  assert.equal(warnings.filter((m) => /redis/i.test(m)).length, 1, `one Redis warning in ${JSON.stringify(warnings)}`);
  assert.equal(warnings.filter((m) => /mongodb|atlas|upload/i.test(m)).length, 1, `one upload warning in ${JSON.stringify(warnings)}`);
  assert.equal(warnings.length, 2, `no other warnings: ${JSON.stringify(warnings)}`);
});

test('bad configuration exits 78 and names the key: from the file and from the environment', () => {
  const dir = tempDir();
  const file = join(dir.path, 'config.yaml');
  writeFileSync(file, 'redis:\n  url: http://localhost:6379\n');
  let r = iotgw(['start', '--config', file]);
  assert.equal(r.status, 78);
  assert.match(r.stderr, /redis\.url: must be a redis:\/\/ URL or none/);
  writeFileSync(file, 'http:\n  prot: 3000\n');
  r = iotgw(['check-config', '--config', file]);
  assert.equal(r.status, 78);
  assert.match(r.stderr, /http\.prot: is not a known setting/);
  writeFileSync(file, 'window_seconds: [1\n');
  r = iotgw(['check-config', '--config', file]);
  assert.equal(r.status, 78);
  assert.match(r.stderr, /cannot read .*config\.yaml/);
  r = iotgw(['check-config'], { IOTGW_PORT: 'eighty' });
  assert.equal(r.status, 78);
  assert.match(r.stderr, /http\.port: must be an integer/);
  r = iotgw(['start', '--config', join(dir.path, 'missing.yaml')]);
  assert.equal(r.status, 78);
  dir.cleanup();
});

test('check-config prints the effective settings with secrets masked', () => {
  const dir = tempDir();
  const file = join(dir.path, 'config.yaml');
  writeFileSync(file, 'mongodb:\n  uri: mongodb+srv://alice:s3cret@cluster0.example.net/\ningest:\n  auth:\n    mode: keys\n    shared_key: hunter2\n    device_keys: { dev-a: k1 }\n');
  const r = iotgw(['check-config', '--config', file]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /configuration OK/);
  assert.match(r.stdout, /mongodb\+srv:\/\/\*\*\*@cluster0\.example\.net\//);
  assert.match(r.stdout, /port: 3000/);
  for (const secret of ['s3cret', 'alice', 'hunter2', 'k1']) assert.ok(!r.stdout.includes(secret), `${secret} is masked`);
  dir.cleanup();
});

test('unknown commands and missing arguments are usage errors (exit 2)', () => {
  assert.equal(iotgw(['frobnicate']).status, 2);
  assert.equal(iotgw([]).status, 2);
  assert.equal(iotgw(['upload']).status, 2);
  const v = iotgw(['version']);
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^iotgw \d+\.\d+\.\d+/);
});

test('bin/iotgw.js runs the compiled build while it is fresh, and the sources once a source file is newer', () => {
  const dist = join(root, 'dist/iotgw.mjs');
  const built = spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), '--quiet'], { cwd: root, encoding: 'utf8' });
  assert.equal(built.status, 0, built.stderr);
  const bin = () => spawnSync(process.execPath, [join(root, 'bin/iotgw.js'), 'version'], { cwd: root, env: cleanEnv({}), encoding: 'utf8' });
  assert.match(bin().stdout, /^iotgw \d+\.\d+\.\d+ \(compiled\)$/m);
  // Age the build instead of touching a source file, so the checkout is left as it was.
  const past = new Date(Date.now() - 3600_000 * 24 * 365 * 30);
  utimesSync(dist, past, past);
  assert.match(bin().stdout, /^iotgw \d+\.\d+\.\d+ \(sources via tsx\)$/m);
});
