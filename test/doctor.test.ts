/**
 * `iotgw doctor` against real parts: a real redis-server (with and without the deploy/ persistence
 * settings), a real SQLite file, a real data dir, the mongodb driver against the wire-protocol test
 * server, closed ports for the broken cases.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { loadConfig } from '../gateway/config.ts';
import { ConfigError } from '../gateway/errors.ts';
import { runDoctor, formatDoctor, type DoctorResult } from '../gateway/doctor/index.ts';
import { parseMongoUri } from '../gateway/doctor/checks/atlas.ts';
import { TestRedis } from './support/redis.ts';
import { MongoWireServer } from './support/mongo-server.ts';
import { freePort, tempDir } from './support/ports.ts';

const tmp = tempDir('iotgw-doctor-');
let redis: TestRedis;
let bareRedis: TestRedis;
let mongo: MongoWireServer;

/** A stand-in for timedatectl that prints `answer`, so the clock line is deterministic. */
function fakeTimedatectl(answer: string): string {
  const path = join(tmp.path, `timedatectl-${answer}`);
  writeFileSync(path, `#!/bin/sh\necho ${answer}\n`);
  chmodSync(path, 0o755);
  return path;
}

const byName = (res: DoctorResult) => Object.fromEntries(res.checks.map((c) => [c.name, c]));

before(async () => {
  redis = await new TestRedis({ appendonly: true, extraArgs: ['--maxmemory', '64mb', '--maxmemory-policy', 'noeviction'] }).start();
  bareRedis = await new TestRedis({ appendonly: false, extraArgs: ['--maxmemory-policy', 'allkeys-lru'] }).start();
  mongo = new MongoWireServer();
  await mongo.start();
});
after(async () => {
  await redis?.destroy();
  await bareRedis?.destroy();
  await mongo?.stop();
  tmp.cleanup();
});

function cfg(overrides: Record<string, unknown>) {
  return loadConfig({ env: {}, overrides: { 'discovery.enabled': false, 'http.port': 1, 'http.host': '127.0.0.1', ...overrides } });
}

test('healthy: Redis with appendonly everysec + noeviction, a WAL SQLite file, a data dir, Atlas reachable', async () => {
  const dataDir = join(tmp.path, 'healthy');
  mkdirSync(dataDir);
  const db = new Database(join(dataDir, 'buffer.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
  db.close();
  const config = cfg({ data_dir: dataDir, 'redis.url': redis.url, 'mongodb.uri': mongo.uri, 'buffer.max_bytes': 1024 * 1024 });
  const res = await runDoctor(config, { timedatectl: fakeTimedatectl('yes'), timeoutMs: 3000 });
  const out = formatDoctor(res);
  console.log(out.replace(/^/gm, '# '));
  const c = byName(res);
  assert.equal(res.ok, true, out);
  assert.equal(c.config.level, 'ok');
  assert.equal(c['data dir'].level, 'ok');
  assert.match(c.sqlite.detail, /quick_check ok, journal_mode wal/);
  assert.equal(c.redis.level, 'ok');
  assert.equal(c['redis persistence'].level, 'ok', c['redis persistence'].detail);
  assert.match(c['redis persistence'].detail, /appendonly yes, appendfsync everysec, maxmemory 67108864, policy noeviction/);
  assert.equal(c.atlas.level, 'ok', c.atlas.detail);
  assert.match(c.atlas.detail, /TCP ok to 127\.0\.0\.1:\d+, auth \+ ping ok/);
  assert.equal(c.clock.level, 'ok');
  assert.equal(c.mdns.level, 'note'); // discovery disabled in this config
  assert.equal(c.daemon.level, 'note'); // nothing on port 1
  assert.match(out, /^doctor: \d+ ok, /m);
});

test('no Redis and no Atlas (the embedded default) is OK with notes, not a failure', async () => {
  const dataDir = join(tmp.path, 'embedded');
  mkdirSync(dataDir);
  const res = await runDoctor(cfg({ data_dir: dataDir, 'buffer.max_bytes': 1024 * 1024 }), { timedatectl: fakeTimedatectl('yes') });
  const c = byName(res);
  assert.equal(res.ok, true, formatDoctor(res));
  assert.equal(c.redis.level, 'note');
  assert.equal(c.atlas.level, 'note');
  assert.match(c.atlas.detail, /upload disabled/);
  assert.equal(c.sqlite.level, 'note'); // not created yet
});

test('broken: Redis on a closed port, data dir is a file, Atlas on a closed port, clock not synced', async () => {
  const closed = await freePort();
  const closedMongo = await freePort();
  const file = join(tmp.path, 'not-a-dir');
  writeFileSync(file, 'x');
  const config = cfg({ data_dir: file, 'redis.url': `redis://127.0.0.1:${closed}`, 'mongodb.uri': `mongodb://u:secret@127.0.0.1:${closedMongo}/?directConnection=true` });
  const res = await runDoctor(config, { timedatectl: fakeTimedatectl('no'), timeoutMs: 1500 });
  const out = formatDoctor(res);
  console.log(out.replace(/^/gm, '# '));
  const c = byName(res);
  assert.equal(res.ok, false);
  assert.equal(c.config.level, 'ok');
  assert.equal(c['data dir'].level, 'fail');
  assert.match(c['data dir'].detail, /is not a directory/);
  assert.equal(c.sqlite.level, 'fail');
  assert.equal(c.redis.level, 'fail');
  assert.match(c.redis.detail, /unreachable: .*ECONNREFUSED/);
  assert.equal(c['redis persistence'].level, 'skip');
  assert.equal(c.atlas.level, 'fail');
  assert.match(c.atlas.detail, /TCP connect failed: .*ECONNREFUSED/);
  assert.doesNotMatch(out, /secret/, 'credentials never printed');
  assert.equal(c.clock.level, 'fail');
  for (const bad of res.checks.filter((x) => !x.ok)) assert.ok(bad.hint, `${bad.name} has a fix hint`);
  // One line per check plus a fix line under each non-ok one, plus the summary.
  assert.match(out, /^FAIL  redis +redis:\/\/127\.0\.0\.1:\d+ unreachable/m);
});

test('Redis without appendonly and with an evicting policy fails the persistence check', async () => {
  const dataDir = join(tmp.path, 'bare');
  mkdirSync(dataDir);
  const res = await runDoctor(cfg({ data_dir: dataDir, 'redis.url': bareRedis.url }), { timedatectl: fakeTimedatectl('yes') });
  const c = byName(res);
  assert.equal(c.redis.level, 'ok');
  assert.equal(c['redis persistence'].level, 'fail');
  assert.match(c['redis persistence'].hint ?? '', /CONFIG SET appendonly yes/);
  assert.equal(res.ok, false);
});

test('Atlas: an AuthenticationFailed answer is reported as an authentication failure after DNS and TCP pass', async () => {
  // The wire-protocol test server has no SCRAM, so the server's answer to the ping is the
  // AuthenticationFailed error (code 18) a wrong Atlas password produces.
  mongo.faults.failNextCommands(1, { code: 18, errmsg: 'Authentication failed.' }, ['ping']);
  const dataDir = join(tmp.path, 'auth');
  mkdirSync(dataDir);
  const res = await runDoctor(cfg({ data_dir: dataDir, 'mongodb.uri': mongo.uri }), { timedatectl: fakeTimedatectl('yes'), timeoutMs: 2000 });
  mongo.faults.reset();
  const atlas = byName(res).atlas;
  assert.equal(atlas.level, 'fail');
  assert.match(atlas.detail, /TCP ok to .*, but authentication failed: Authentication failed/);
  assert.match(atlas.hint ?? '', /user and password/);
});

test('an invalid config fails the config line with the field path and skips what depends on it', async () => {
  let err: Error | null = null;
  try {
    loadConfig({ env: {}, overrides: { 'redis.url': 'http://nope' } });
  } catch (e) {
    err = e as Error;
  }
  assert.ok(err instanceof ConfigError);
  const res = await runDoctor(err, { source: '/etc/iotgw/config.yaml', timedatectl: fakeTimedatectl('yes') });
  const c = byName(res);
  assert.equal(res.ok, false);
  assert.equal(c.config.level, 'fail');
  assert.match(c.config.detail, /^redis\.url: /);
  assert.match(c.config.hint ?? '', /field redis\.url/);
  assert.equal(c.redis.level, 'skip');
  assert.equal(c.clock.level, 'ok');
});

test('clock: an absent timedatectl is a warning (unknown), not a failure', async () => {
  const dataDir = join(tmp.path, 'clock');
  mkdirSync(dataDir);
  const res = await runDoctor(cfg({ data_dir: dataDir }), { timedatectl: join(tmp.path, 'no-such-timedatectl') });
  const clock = byName(res).clock;
  assert.equal(clock.level, 'warn');
  assert.equal(clock.ok, true);
  assert.match(clock.detail, /unknown/);
});

test('parseMongoUri: SRV, host lists, IPv6 and tls flags', () => {
  assert.deepEqual(parseMongoUri('mongodb+srv://u:p@cluster0.ab1cd.mongodb.net/?retryWrites=true'), { srv: true, hosts: [{ host: 'cluster0.ab1cd.mongodb.net', port: 27017 }], tls: true, shown: 'mongodb+srv://cluster0.ab1cd.mongodb.net' });
  const p = parseMongoUri('mongodb://a:1,b,[::1]:27018/db?tls=true');
  assert.deepEqual(p.hosts, [{ host: 'a', port: 1 }, { host: 'b', port: 27017 }, { host: '::1', port: 27018 }]);
  assert.equal(p.tls, true);
  assert.equal(parseMongoUri('mongodb+srv://h/?tls=false').tls, false);
});

test('`iotgw doctor` exits 1 and prints one line per check when something is broken', () => {
  const dir = join(tmp.path, 'cli');
  mkdirSync(dir);
  const conf = join(dir, 'config.yaml');
  writeFileSync(conf, 'redis:\n  url: redis://127.0.0.1:1\ndiscovery:\n  enabled: false\n');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'gateway/main.ts', 'doctor', '--config', conf], { encoding: 'utf8', env: { ...process.env, IOTGW_DATA_DIR: dir, IOTGW_PORT: '1' }, timeout: 60000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /^OK    config/m);
  assert.match(r.stdout, /^FAIL  redis/m);
  assert.match(r.stdout, /^doctor: .* failed - something is broken$/m);
});
