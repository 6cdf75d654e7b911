import type { Config } from './config.ts';
import { adminCall, AdminCommandError, DaemonNotRunning } from './admin/client.ts';
import { adminSocketPath } from './admin/protocol.ts';
import type { ConfigChanges } from './reload.ts';

/**
 * `iotgw reload`: asks the running daemon to re-read its config and device keys (the same as
 * SIGHUP, but it waits and prints what changed). The config it checks first is the CLI's own
 * view of the file; the daemon reads it again itself. Exit 0 reloaded, 1 refused or no daemon.
 */
export async function reloadCommand(config: Config, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  try {
    const r = (await adminCall(adminSocketPath(config.data_dir), 'reload')) as ConfigChanges & { pid: number; device_keys: number };
    out.write(`iotgw reload: the daemon (pid ${r.pid}) reloaded; applied: ${r.applied.join(', ') || 'nothing changed'}; ${r.device_keys} device keys\n`);
    if (r.restart_needed.length > 0) out.write(`changed but needing a restart (systemctl restart iotgw): ${r.restart_needed.join(', ')}\n`);
    return 0;
  } catch (e) {
    if (e instanceof DaemonNotRunning) err.write(`iotgw reload: ${e.message}; nothing to reload\n`);
    else if (e instanceof AdminCommandError) err.write(`iotgw reload: refused, the daemon keeps its running configuration: ${e.message}\n`);
    else throw e;
    return 1;
  }
}
