/**
 * deploy/install.sh into a temporary root (`--root DIR`): the real script, real files. System
 * commands must only be printed there, so PATH starts with stand-ins for them that log any call:
 * the log must stay empty.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, realpathSync, statSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from './support/ports.ts';

const repo = resolve('.');
const tmp = tempDir('iotgw-install-');
const root = join(tmp.path, 'root');
const fakeBin = join(tmp.path, 'fakebin');
const callLog = join(tmp.path, 'calls.log');
const SYSTEM_COMMANDS = ['systemctl', 'useradd', 'userdel', 'chown', 'redis-cli', 'npm'];

before(() => {
  mkdirSync(fakeBin);
  for (const cmd of SYSTEM_COMMANDS) {
    const p = join(fakeBin, cmd);
    writeFileSync(p, `#!/bin/sh\necho "${cmd} $*" >> ${callLog}\nexit 0\n`);
    chmodSync(p, 0o755);
  }
});
after(() => tmp.cleanup());

function install(...args: string[]) {
  const r = spawnSync('bash', [join(repo, 'deploy/install.sh'), '--root', root, '--skip-npm', ...args], {
    encoding: 'utf8', env: { ...process.env, PATH: `${fakeBin}:${process.env.PATH}` }, timeout: 120000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Every path under `dir`, relative, sorted (directories end in /). */
function tree(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const rel = `${prefix}${e.name}`;
    return e.isDirectory() ? [`${rel}/`, ...tree(join(dir, e.name), `${rel}/`)] : [rel];
  }).sort();
}

const calls = () => (existsSync(callLog) ? readFileSync(callLog, 'utf8') : '');
const R = (p: string) => join(root, p);

test('install into a temp root, twice in a row: the expected files, no system command run for real', () => {
  const first = install();
  assert.equal(first.code, 0, first.err + first.out);
  assert.match(first.out, /wrote starter \/etc\/iotgw\/config\.yaml/);
  // What it would do on a real system, printed instead.
  for (const line of ['would run: useradd --system --user-group --home-dir /var/lib/iotgw', 'would run: systemctl daemon-reload', 'would run: redis-cli CONFIG SET appendonly yes',
    'would run: systemctl restart redis-server.service', 'would run: systemctl enable iotgw.service', 'would run: systemctl restart iotgw.service', 'would run: chown root:iotgw /etc/iotgw /etc/iotgw/config.yaml']) {
    assert.ok(first.out.includes(line), `missing "${line}" in:\n${first.out}`);
  }
  assert.match(first.out, /Next steps:/);

  // The operator edits the config; the second run must keep it.
  writeFileSync(R('etc/iotgw/config.yaml'), 'http:\n  port: 3100\n');
  const second = install();
  assert.equal(second.code, 0, second.err + second.out);
  assert.match(second.out, /kept existing \/etc\/iotgw\/config\.yaml/);
  assert.equal(readFileSync(R('etc/iotgw/config.yaml'), 'utf8'), 'http:\n  port: 3100\n');
  assert.doesNotMatch(second.out, /installed Redis settings/, 'unchanged files are not rewritten');
  assert.equal(calls(), '', 'no system command may run in --root mode');

  const files = tree(root);
  for (const f of ['etc/systemd/system/iotgw.service', 'etc/systemd/system/redis-server.service.d/iotgw.conf', 'etc/redis/iotgw.conf', 'etc/iotgw/config.yaml',
    'var/lib/iotgw/', 'opt/iotgw/bin/iotgw.js', 'opt/iotgw/gateway/main.ts', 'opt/iotgw/gateway/systemd.ts', 'opt/iotgw/package.json', 'opt/iotgw/package-lock.json', 'opt/iotgw/deploy/install.sh', 'usr/local/bin/iotgw']) {
    assert.ok(files.includes(f), `${f} missing; have:\n${files.filter((x) => !x.startsWith('opt/iotgw/')).join('\n')}`);
  }
  assert.ok(!files.some((f) => f.startsWith('opt/iotgw/test/') || f.startsWith('opt/iotgw/node_modules/')), 'tests and dev modules stay out');
  assert.ok(!files.some((f) => /(^|\/)\.[^/]+\.[A-Za-z0-9]{6}$/.test(f) || /^opt\/iotgw\.(new|old)/.test(f)), `leftover temp files: ${files.join(' ')}`);
  assert.equal(readlinkSync(R('usr/local/bin/iotgw')), '/opt/iotgw/bin/iotgw.js');
  assert.ok(statSync(R('opt/iotgw/bin/iotgw.js')).mode & 0o111, 'bin/iotgw.js is executable');
  assert.equal(statSync(R('etc/iotgw')).mode & 0o777, 0o750);
  assert.equal(statSync(R('etc/iotgw/config.yaml')).mode & 0o777, 0o640);
  const unit = readFileSync(R('etc/systemd/system/iotgw.service'), 'utf8');
  assert.match(unit, new RegExp(`^ExecStart=${realpathSync(process.execPath).replace(/[.+]/g, '\\$&')}( --[a-z-]+=\\d+)* /opt/iotgw/bin/iotgw.js start$`, 'm'));
  assert.equal(readFileSync(R('etc/redis/iotgw.conf'), 'utf8'), readFileSync('deploy/redis/iotgw.conf', 'utf8'));
});

test('the installed unit verifies, and the installed tree runs with the starter config', { skip: existsSync('/usr/bin/systemd-analyze') ? false : 'no systemd-analyze' }, () => {
  const v = spawnSync('systemd-analyze', ['verify', R('etc/systemd/system/iotgw.service')], { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stderr);
  assert.doesNotMatch(v.stderr, /iotgw\.service:\d+/, v.stderr);
  // --skip-npm left node_modules out; borrow the checkout's so the installed bin/iotgw.js can run.
  symlinkSync(join(repo, 'node_modules'), R('opt/iotgw/node_modules'));
  const starter = join(tmp.path, 'starter.yaml');
  writeFileSync(starter, readFileSync('deploy/config.yaml'));
  const r = spawnSync(process.execPath, [R('opt/iotgw/bin/iotgw.js'), 'check-config', '--config', starter], { encoding: 'utf8', timeout: 60000, env: { ...process.env, IOTGW_DATA_DIR: tmp.path } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /configuration OK/);
});

test('--uninstall removes the service and /opt/iotgw but keeps config, data and Redis settings; --purge removes the rest', () => {
  const u = install('--uninstall');
  assert.equal(u.code, 0, u.err + u.out);
  assert.match(u.out, /would run: systemctl disable --now iotgw\.service/);
  assert.ok(!existsSync(R('etc/systemd/system/iotgw.service')));
  assert.ok(!existsSync(R('opt/iotgw')));
  assert.ok(!lstatExists(R('usr/local/bin/iotgw')));
  assert.ok(existsSync(R('etc/iotgw/config.yaml')), 'config kept');
  assert.ok(existsSync(R('var/lib/iotgw')), 'data kept');
  assert.ok(existsSync(R('etc/redis/iotgw.conf')), 'Redis settings kept');
  assert.equal(install('--uninstall').code, 0, 'uninstall twice is fine');

  const p = install('--uninstall', '--purge');
  assert.equal(p.code, 0, p.err + p.out);
  assert.match(p.out, /would run: userdel iotgw/);
  for (const f of ['etc/iotgw', 'var/lib/iotgw', 'etc/redis/iotgw.conf', 'etc/systemd/system/redis-server.service.d']) assert.ok(!existsSync(R(f)), `${f} purged`);
  assert.deepEqual(tree(root).filter((f) => !f.endsWith('/')), [], 'no file left behind');
  assert.equal(calls(), '');
});

test('bad options exit 2 with usage', () => {
  assert.equal(install('--frobnicate').code, 2);
  assert.equal(install('--purge').code, 2, '--purge only with --uninstall');
});

function lstatExists(p: string): boolean {
  try { lstatSync(p); return true; } catch { return false; }
}
