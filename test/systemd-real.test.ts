/**
 * The installed service under a real systemd as PID 1: ../shared/tools/real-systemd boots a
 * container from an overlay of this machine's root and runs test/systemd-real/run.sh in it
 * (install.sh in real mode; start after READY, STATUS=, reload, watchdog after SIGSTOP, clean
 * stop, exit 78 without a restart loop). Each of its `ok`/`not ok` lines is asserted here. It
 * needs root and ../shared: in CI (CI=true) their absence fails the test; elsewhere it is skipped
 * with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tool = join(root, '..', 'shared', 'tools', 'real-systemd');
const missing = process.getuid?.() !== 0 ? 'needs root' : !existsSync(tool) ? `no ${tool}` : null;

test('under a real systemd: install, start after READY, STATUS=, reload, watchdog, stop, exit 78', { skip: missing && !process.env.CI ? missing : false, timeout: 600_000 }, async () => {
  assert.equal(missing, null, `cannot run the real-systemd test: ${missing}`);
  const proc = spawn('bash', [tool, 'test/systemd-real/run.sh'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
  proc.stderr.on('data', (d) => { out += d; });
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  const lines = out.split('\n').filter((l) => /^(not )?ok - /.test(l));
  assert.ok(lines.length >= 20, `the script ran its checks:\n${out.slice(-3000)}`);
  assert.deepEqual(lines.filter((l) => l.startsWith('not ok')), [], out.slice(-3000));
  assert.equal(code, 0, out.slice(-2000));
});
