import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pino } from 'pino';
import { AdminServer } from '../gateway/admin/server.ts';
import { adminCall, AdminCommandError, DaemonNotRunning } from '../gateway/admin/client.ts';
import { GatewayError } from '../gateway/errors.ts';
import { GatewayProcess } from './support/gateway-process.ts';
import { tempDir } from './support/ports.ts';

const log = pino({ level: 'silent' });

test('admin socket: a registered command answers the CLI; the file is 0600; errors keep their code', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'admin.sock');
  const server = new AdminServer({ path, log });
  let seen: unknown = null;
  server.register('echo', async (args) => { seen = args; return { got: args.n }; });
  server.register('refuse', async () => { throw new GatewayError('not_allowed', 'no, and here is why'); });
  server.register('crash', async () => { throw new Error('boom'); });
  await server.start();
  try {
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(await adminCall(path, 'echo', { n: 7 }), { got: 7 });
    assert.deepEqual(seen, { n: 7 });
    await assert.rejects(adminCall(path, 'refuse'), (err: unknown) => err instanceof AdminCommandError && err.code === 'not_allowed' && err.message === 'no, and here is why');
    await assert.rejects(adminCall(path, 'crash'), (err: unknown) => err instanceof AdminCommandError && err.code === 'internal' && /boom/.test(err.message));
    await assert.rejects(adminCall(path, 'nope'), (err: unknown) => err instanceof AdminCommandError && err.code === 'unknown_command' && /crash, echo, refuse/.test(err.message));
    // A second daemon on the same data dir must not take the first one's socket.
    await assert.rejects(new AdminServer({ path, log }).start(), /another iotgw daemon is running/);
  } finally {
    await server.stop();
  }
  assert.equal(existsSync(path), false, 'stop() removes the socket file');
  await assert.rejects(adminCall(path, 'echo'), (err: unknown) => err instanceof DaemonNotRunning);
  dir.cleanup();
});

test('admin socket: a file left by a killed daemon is replaced, and a socket nobody listens on reads as "not running"', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'admin.sock');
  // A process that listens on the path and is then SIGKILLed leaves the socket file behind.
  const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.ok(existsSync(path), 'the killed listener left its socket file');
  await assert.rejects(adminCall(path, 'status'), (err: unknown) => err instanceof DaemonNotRunning);
  const server = new AdminServer({ path, log });
  server.register('status', async () => 'fine');
  await server.start();
  try {
    assert.equal(await adminCall(path, 'status'), 'fine');
  } finally {
    await server.stop();
    dir.cleanup();
  }
});

test('the daemon answers `status` on <data_dir>/admin.sock, and a kill -9 restart takes the socket back', async () => {
  const dir = tempDir();
  const first = new GatewayProcess({ dataDir: dir.path });
  const second = new GatewayProcess({ dataDir: dir.path });
  try {
    await first.start();
    const path = join(dir.path, 'admin.sock');
    const a = (await adminCall(path, 'status')) as { pid: number; status: string };
    assert.equal(a.pid, first.pid);
    assert.match(a.status, /readings\/min/);
    await first.kill();
    await second.start();
    const b = (await adminCall(path, 'status')) as { pid: number };
    assert.equal(b.pid, second.pid);
  } finally {
    await first.kill();
    await second.stop();
    dir.cleanup();
  }
});
