/**
 * `iotgw devices add <device_id> [--group G] [--replace] | list [--json] | revoke <device_id>`.
 * With a daemon running, the command goes through its admin socket, so the change is live and the
 * CLI says so; without one, it edits `<data_dir>/device-keys.json` itself and says the change
 * applies when the daemon starts. Exit codes: 0 ok, 1 refused, 2 usage, 78 bad configuration.
 */
import { parseArgs } from 'node:util';
import { loadConfigOrExitCode } from '../config.ts';
import { GatewayError } from '../errors.ts';
import { adminCall, AdminCommandError, DaemonNotRunning } from '../admin/client.ts';
import { adminSocketPath } from '../admin/protocol.ts';
import { KeyStore, keysFilePath, KeyFileError, type StoredKey } from './key-store.ts';
import { KeyCommands, type KeyReport } from './commands.ts';

export const DEVICES_USAGE = `usage: iotgw devices <add|list|revoke> [--config FILE]

  add <device_id> [--group G] [--replace]   make a device key and print it once
  list [--json]                             the devices that have a key, and the auth mode
  revoke <device_id>                        remove a device's key

A device that has a key must send it (Authorization: Bearer <key>) with every reading.`;

type Out = { out: NodeJS.WritableStream; err: NodeJS.WritableStream };

export async function devicesCommand(argv: string[], io: Out = { out: process.stdout, err: process.stderr }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string', short: 'c' }, group: { type: 'string' }, replace: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    io.err.write(`iotgw devices: ${(err as Error).message}\n${DEVICES_USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [sub, deviceId, ...extra] = positionals;
  if (values.help) {
    io.out.write(`${DEVICES_USAGE}\n`);
    return 0;
  }
  const needsId = sub === 'add' || sub === 'revoke';
  if (!['add', 'list', 'revoke'].includes(sub ?? '') || (needsId && !deviceId) || (!needsId && deviceId) || extra.length > 0) {
    io.err.write(`${DEVICES_USAGE}\n`);
    return 2;
  }
  const config = loadConfigOrExitCode(values.config, io.err);
  if (typeof config === 'number') return config;
  const args = { device_id: deviceId, group: values.group ?? null, replace: values.replace === true };
  let result: unknown;
  let live: number | null = null;
  try {
    try {
      result = await adminCall(adminSocketPath(config.data_dir), `devices.${sub}`, args);
      live = (result as { pid: number }).pid;
    } catch (err) {
      if (!(err instanceof DaemonNotRunning)) throw err;
      const commands = new KeyCommands(new KeyStore(keysFilePath(config.data_dir)).load(), () => config.ingest.auth);
      result = sub === 'add' ? commands.add(args) : sub === 'revoke' ? commands.revoke(args) : commands.list();
    }
  } catch (err) {
    return refused(err, io);
  }
  const when = live !== null ? `the running daemon (pid ${live}) took the change` : 'no daemon is running: the change applies when iotgw starts';
  if (sub === 'add') {
    const { key, entry } = result as { key: string; entry: StoredKey };
    io.out.write(`${key}\n`);
    io.err.write(`device "${entry.device_id}"${entry.group ? ` (group ${entry.group})` : ''}: a new key, printed above once; it is stored only hashed.\n`
      + `Put it on the board (firmware/README.md, "Device keys"); the board sends it as Authorization: Bearer <key>.\n${when}.\n`);
  } else if (sub === 'revoke') {
    io.out.write(`device "${(result as { entry: StoredKey }).entry.device_id}": key revoked; ${when}.\n`);
  } else {
    const report = result as KeyReport;
    io.out.write(values.json ? `${JSON.stringify(report)}\n` : formatList(report, live !== null));
  }
  return 0;
}

function refused(err: unknown, io: Out): number {
  if (err instanceof AdminCommandError || err instanceof GatewayError || err instanceof KeyFileError) {
    io.err.write(`iotgw devices: ${err.message}\n`);
    return 1;
  }
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'EACCES' || code === 'EPERM') {
    io.err.write(`iotgw devices: ${(err as Error).message}: run it as root (sudo) or as the daemon's user\n`);
    return 1;
  }
  throw err;
}

function formatList(report: KeyReport, live: boolean): string {
  const mode = report.mode === 'keys'
    ? 'keys: every device must send a valid key'
    : 'none (open): devices without a key are accepted, as with the original API; the devices below must send theirs';
  const lines = [`auth mode: ${mode}${report.shared_key ? '; a shared key (ingest.auth.shared_key) is set' : ''}`];
  lines.push(live ? '(as the running daemon sees them)' : '(from the data dir and config; no daemon is running)');
  if (report.keys.length === 0) lines.push('no device keys');
  else {
    const rows = [['DEVICE', 'GROUP', 'ADDED', 'SOURCE', 'FINGERPRINT'], ...report.keys.map((k) => [k.device_id, k.group ?? '-', k.created_at?.slice(0, 19) ?? '-', k.source, k.fingerprint])];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    for (const r of rows) lines.push(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
  }
  return `${lines.join('\n')}\n`;
}
