/**
 * Reload (SIGHUP, as `systemctl reload` sends it, and `iotgw reload`): a good file changes a limit
 * in the running daemon; a bad file is refused with the path of the bad key and the old
 * configuration keeps running. The real daemon, a real config file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { GatewayProcess } from './support/gateway-process.ts';
import { tempDir } from './support/ports.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const batch = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ device_id: `r-${tag}-${i}`, group_id: 'reload' }));

test('SIGHUP applies a changed limit live; a bad file is refused by path and the running config stays', async () => {
  const dir = tempDir();
  const configFile = `${dir.path}.config.yaml`;
  const gw = await new GatewayProcess({ dataDir: dir.path, config: { ingest: { max_batch: 50 } } }).start();
  const reloads = () => gw.logs.filter((l) => l.msg === 'configuration reloaded' || l.msg === 'reload refused, the running configuration stays');
  const hup = async () => {
    const before = reloads().length;
    process.kill(gw.pid!, 'SIGHUP');
    await gw.waitForLog(() => reloads().length > before);
    return reloads().at(-1)!;
  };
  try {
    assert.equal((await gw.post('/telemetry', batch(20, 'a'))).status, 202);

    writeFileSync(configFile, toYaml({ ingest: { max_batch: 10 } }));
    const ok = await hup();
    assert.equal(ok.msg, 'configuration reloaded');
    assert.deepEqual(ok.applied, ['ingest.max_batch']);
    const refused = await gw.post('/telemetry', batch(20, 'b'));
    assert.equal(refused.status, 413);
    assert.equal(refused.body.error.code, 'batch_too_large');
    assert.match(String((await gw.get('/metrics')).body), /iotgw_limit_hits_total\{limit="ingest\.max_batch"\} 1\n/);

    writeFileSync(configFile, 'ingest:\n  max_batch: lots\n');
    const bad = await hup();
    assert.equal(bad.msg, 'reload refused, the running configuration stays');
    assert.equal(bad.path, 'ingest.max_batch');
    assert.match(String(bad.err), /ingest\.max_batch: must be an integer, got "lots"/);
    assert.equal((await gw.post('/telemetry', batch(10, 'c'))).status, 202, 'the running limit (10) still applies');
    assert.equal((await gw.post('/telemetry', batch(11, 'd'))).status, 413);

    // `iotgw reload` waits and says what it applied and what needs a restart.
    writeFileSync(configFile, toYaml({ ingest: { max_batch: 30 }, discovery: { host_name: 'elsewhere' } }));
    const env: Record<string, string> = { ...(process.env as Record<string, string>), IOTGW_DATA_DIR: dir.path, IOTGW_CONFIG: configFile };
    const cli = spawnSync(process.execPath, ['--import', 'tsx', 'gateway/main.ts', 'reload'], { cwd: root, env, encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`the daemon \\(pid ${gw.pid}\\) reloaded; applied: ingest\\.max_batch`));
    assert.match(cli.stdout, /needing a restart \(systemctl restart iotgw\): discovery\.host_name/);
    assert.equal((await gw.post('/telemetry', batch(30, 'e'))).status, 202);
    assert.ok(gw.pid && gw.logs.every((l) => l.msg !== 'shutting down'), 'the daemon ran throughout');
  } finally {
    assert.equal(await gw.stop(), 0);
    dir.cleanup();
  }
});
