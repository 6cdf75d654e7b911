/**
 * deploy/systemd units checked by systemd's own tools: `systemd-analyze verify` (syntax, unknown
 * keys, missing binaries) and `systemd-analyze security --offline=true` (hardening exposure).
 * verify needs the ExecStart binary to exist, so the check runs on a copy whose ExecStart is node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './support/ports.ts';

const ANALYZE = '/usr/bin/systemd-analyze';
const skip = existsSync(ANALYZE) ? false : 'systemd-analyze missing (apt-get install systemd)';
const UNIT = 'deploy/systemd/iotgw.service';
const DROPIN = 'deploy/systemd/redis-server.service.d/iotgw.conf';
const NODE = process.execPath;

function analyze(args: string[], unitPath?: string): { code: number | null; out: string; err: string } {
  const env = { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_COLORS: '0', ...(unitPath ? { SYSTEMD_UNIT_PATH: `${unitPath}:` } : {}) };
  const r = spawnSync(ANALYZE, args, { encoding: 'utf8', env, cwd: unitPath });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A unit dir with iotgw.service (ExecStart -> node) and, if asked, redis-server.service plus our drop-in. */
function unitDir(opts: { dropinExtra?: string } = {}): { path: string; cleanup(): void } {
  const dir = tempDir('iotgw-units-');
  const unit = readFileSync(UNIT, 'utf8').replace(/^ExecStart=\S+/m, `ExecStart=${NODE}`);
  writeFileSync(join(dir.path, 'iotgw.service'), unit);
  // The Debian redis-server package's unit when present (as on a Pi); else a minimal stand-in.
  const debian = '/lib/systemd/system/redis-server.service';
  if (existsSync(debian) && existsSync('/usr/bin/redis-server')) copyFileSync(debian, join(dir.path, 'redis-server.service'));
  else writeFileSync(join(dir.path, 'redis-server.service'), `[Unit]\nDescription=stand-in\n[Service]\nType=notify\nExecStart=${NODE}\n`);
  mkdirSync(join(dir.path, 'redis-server.service.d'));
  let dropin = readFileSync(DROPIN, 'utf8');
  if (!existsSync('/usr/bin/redis-server')) dropin = dropin.replace(/^ExecStart=\/usr\/bin\/redis-server/m, `ExecStart=${NODE}`);
  writeFileSync(join(dir.path, 'redis-server.service.d', 'iotgw.conf'), dropin + (opts.dropinExtra ?? ''));
  return dir;
}

test('the unit keeps the settings the issue asks for', () => {
  const unit = readFileSync(UNIT, 'utf8');
  for (const line of ['Type=notify', 'NotifyAccess=all', 'Restart=always', 'RestartPreventExitStatus=78', 'StateDirectory=iotgw',
    'ConfigurationDirectory=iotgw', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'NoNewPrivileges=yes', 'User=iotgw',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK']) {
    assert.match(unit, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), line);
  }
  assert.match(unit, /^WatchdogSec=\d+s$/m);
  assert.match(unit, /^MemoryMax=\d+[MG]$/m);
  assert.match(unit, /^After=.*network-online\.target.*redis-server\.service/m);
  assert.match(unit, /^StartLimitBurst=\d+$/m);
  // TimeoutStopSec sits above the default graceful drain (shutdown_timeout_ms 10000).
  const stop = Number(/^TimeoutStopSec=(\d+)s$/m.exec(unit)?.[1]);
  assert.ok(stop > 10 && stop <= 30, `TimeoutStopSec=${stop}s`);
});

test('systemd-analyze verify accepts iotgw.service and the redis-server drop-in', { skip }, () => {
  const dir = unitDir();
  try {
    const r = analyze(['verify', 'iotgw.service', 'redis-server.service'], dir.path);
    assert.equal(r.code, 0, r.err);
    // verify exits 0 on unknown keys too; any warning about our files is a failure here.
    assert.doesNotMatch(r.err, /iotgw/, r.err);
  } finally {
    dir.cleanup();
  }
});

test('the drop-in is really read by verify (control: a bad key in it is reported)', { skip }, () => {
  const dir = unitDir({ dropinExtra: 'NoSuchKeyForTheTest=1\n' });
  try {
    const r = analyze(['verify', 'redis-server.service'], dir.path);
    assert.match(r.err, /redis-server\.service\.d\/iotgw\.conf.*NoSuchKeyForTheTest/);
  } finally {
    dir.cleanup();
  }
});

test('systemd-analyze security rates iotgw.service OK or better', { skip }, () => {
  const dir = unitDir();
  try {
    const r = analyze(['security', '--offline=true', '--no-pager', join(dir.path, 'iotgw.service')], dir.path);
    const m = /Overall exposure level for iotgw\.service: ([\d.]+) (\w+)/.exec(r.out);
    assert.ok(m, `no exposure line in:\n${r.out}\n${r.err}`);
    const [, score, level] = m;
    console.log(`# systemd-analyze security: exposure ${score} ${level}`);
    assert.ok(['PERFECT', 'SAFE', 'OK'].includes(level), `exposure ${score} ${level}`);
  } finally {
    dir.cleanup();
  }
});
