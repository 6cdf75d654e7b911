/**
 * Device keys end to end, as an installer uses them: `iotgw devices add|list|revoke` (the real
 * CLI in a child process) against a real daemon, the device's view over HTTP and WebSocket, and
 * a restart. The store on disk holds only hashes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayProcess } from './support/gateway-process.ts';
import { tempDir } from './support/ports.ts';
import { runIotgw } from './support/iotgw-cli.ts';
import { wsRequest } from './support/ws.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const iotgw = (dataDir: string, ...args: string[]) => runIotgw(dataDir, ['devices', ...args]);

const reading = (device_id: string, extra: Record<string, unknown> = {}) => ({ device_id, group_id: 'lab', v: 1, ...extra });
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** One WebSocket message and its answer; `key` goes on the upgrade, as the firmware sends it. */
const wsSend = (gw: GatewayProcess, body: unknown, key?: string) => wsRequest(gw.port, body, key ? bearer(key) : {});

test('devices add/list/revoke against a running daemon take effect live, and the keys survive a restart', async () => {
  const dir = tempDir();
  let gw = await new GatewayProcess({ dataDir: dir.path }).start();
  try {
    // Open mode (the default): a board without a key is accepted, as with the original API.
    assert.equal((await gw.post('/telemetry', reading('board-1'))).status, 202);

    const added = iotgw(dir.path, 'add', 'board-1');
    assert.equal(added.code, 0, added.err);
    const key = added.out.trim();
    assert.match(key, /^[A-Za-z0-9_-]{43}$/, 'one line: the key (256 bits, base64url)');
    assert.match(added.err, new RegExp(`the running daemon \\(pid ${gw.pid}\\) took the change`));

    // Live: the same board now needs its key, over HTTP and on the WebSocket upgrade.
    const without = await gw.post('/telemetry', reading('board-1'));
    assert.equal(without.status, 401);
    assert.equal(without.body.error.code, 'unauthorized');
    assert.match(without.body.error.message, /board-1/);
    assert.equal((await gw.post('/telemetry', reading('board-1'), bearer(key))).status, 202);
    assert.equal((await gw.post('/telemetry', reading('board-1'), bearer(`${key}x`))).status, 401, 'a wrong key');
    assert.deepEqual(await wsSend(gw, reading('board-1', { seq: 7 }), key), { ack: 7, accepted: 1 });
    const nack = await wsSend(gw, reading('board-1', { seq: 8 }));
    assert.equal(nack.nack, 8);
    assert.equal(nack.error.code, 'unauthorized');
    // Its key speaks only for itself; boards without a key still pass in open mode.
    assert.equal((await gw.post('/telemetry', reading('board-2'), bearer(key))).status, 401);
    assert.equal((await gw.post('/telemetry', reading('board-2'))).status, 202);

    // Stored hashed, readable only by the daemon's user.
    const file = join(dir.path, 'device-keys.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(!readFileSync(file, 'utf8').includes(key), 'the key itself is not on disk');

    const list = iotgw(dir.path, 'list');
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /auth mode: none \(open\)/);
    assert.match(list.out, /board-1\s+-\s+\d{4}-\d\d-\d\dT[\d:]+\s+store\s+[0-9a-f]{12}/);
    assert.match(list.out, /as the running daemon sees them/);

    const again = iotgw(dir.path, 'add', 'board-1');
    assert.equal(again.code, 1);
    assert.match(again.err, /already has a key/);

    const revoked = iotgw(dir.path, 'revoke', 'board-1');
    assert.equal(revoked.code, 0, revoked.err);
    assert.match(revoked.out, /key revoked; the running daemon \(pid \d+\) took the change/);
    assert.equal((await gw.post('/telemetry', reading('board-1'), bearer(key))).status, 401, 'the revoked key is refused');
    assert.equal((await gw.post('/telemetry', reading('board-1'))).status, 202, 'without a key it is an open-mode board again');

    // A key with a group speaks only for that group; then a restart keeps it.
    const grouped = iotgw(dir.path, 'add', 'board-3', '--group', 'lab');
    assert.equal(grouped.code, 0, grouped.err);
    const key3 = grouped.out.trim();
    const wrongGroup = await gw.post('/telemetry', { ...reading('board-3'), group_id: 'hall' }, bearer(key3));
    assert.equal(wrongGroup.status, 401);
    assert.equal(wrongGroup.body.error.path, 'group_id');
    assert.equal(await gw.stop(), 0);

    gw = await new GatewayProcess({ dataDir: dir.path }).start();
    assert.equal((await gw.post('/telemetry', reading('board-3'))).status, 401, 'after a restart the key is still required');
    assert.equal((await gw.post('/telemetry', reading('board-3'), bearer(key3))).status, 202);
    assert.equal((await gw.post('/telemetry', reading('board-1'), bearer(key))).status, 401, 'and the revoked one still refused');
  } finally {
    await gw.stop();
    dir.cleanup();
  }
});

test('without a daemon the CLI edits the data dir and says when the change applies; mode keys refuses keyless boards', async () => {
  const dir = tempDir();
  const added = iotgw(dir.path, 'add', 'board-9');
  assert.equal(added.code, 0, added.err);
  assert.match(added.err, /no daemon is running: the change applies when iotgw starts/);
  const key = added.out.trim();
  assert.match(iotgw(dir.path, 'list').out, /no daemon is running/);
  assert.equal(iotgw(dir.path, 'revoke', 'nobody').code, 1);
  assert.equal(iotgw(dir.path, 'add').code, 2, 'usage error');

  const gw = await new GatewayProcess({ dataDir: dir.path, config: { ingest: { auth: { mode: 'keys', device_keys: { 'legacy-1': 'plain-config-key' } } } } }).start();
  try {
    assert.equal((await gw.post('/telemetry', reading('board-9'), bearer(key))).status, 202);
    assert.equal((await gw.post('/telemetry', reading('board-9'))).status, 401);
    assert.equal((await gw.post('/telemetry', reading('keyless'))).status, 401, 'mode keys: a board with no key is refused');
    // Keys in config.yaml keep working beside the store, and are listed as such.
    assert.equal((await gw.post('/telemetry', reading('legacy-1'), bearer('plain-config-key'))).status, 202);
    const list = JSON.parse(iotgw(dir.path, 'list', '--json').out);
    assert.equal(list.mode, 'keys');
    assert.deepEqual(list.keys.map((k: any) => `${k.device_id}:${k.source}`), ['board-9:store', 'legacy-1:config']);
    const r = iotgw(dir.path, 'revoke', 'legacy-1');
    assert.equal(r.code, 1);
    assert.match(r.err, /in config\.yaml/);
  } finally {
    await gw.stop();
    dir.cleanup();
  }
});

test('a broken key file stops the daemon with exit 78 and names the file', () => {
  const dir = tempDir();
  writeFileSync(join(dir.path, 'device-keys.json'), '{"version": 1, "devices": {"x": {"hash": "plain"}}}');
  const env: Record<string, string> = { ...(process.env as Record<string, string>), IOTGW_DATA_DIR: dir.path, IOTGW_CONFIG: '', IOTGW_PORT: '0', IOTGW_HOST: '127.0.0.1', IOTGW_DISCOVERY: 'off' };
  delete env.NOTIFY_SOCKET;
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'gateway/main.ts', 'start'], { cwd: root, env, encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 78, r.stdout + r.stderr);
  assert.match(r.stdout, /device-keys\.json: devices\.x: is not a valid entry/);
  dir.cleanup();
});
