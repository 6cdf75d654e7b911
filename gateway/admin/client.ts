import { createConnection } from 'node:net';
import type { AdminResponse } from './protocol.ts';

/** No daemon listens on the socket: the CLI then says so, or acts on the data dir itself. */
export class DaemonNotRunning extends Error {
  readonly code = 'daemon_not_running';
  constructor(readonly socketPath: string, reason: string) {
    super(`no iotgw daemon answers on ${socketPath} (${reason})`);
    this.name = 'DaemonNotRunning';
  }
}

/** The daemon answered with an error; `code` is its stable code. */
export class AdminCommandError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'AdminCommandError';
  }
}

/**
 * Sends one command to the running daemon and resolves with its result. Rejects with
 * DaemonNotRunning when there is no socket or nobody listens (ENOENT, ECONNREFUSED), with
 * AdminCommandError when the daemon refused, and with a plain Error on a timeout or a broken reply.
 */
export function adminCall(socketPath: string, cmd: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let reply = '';
    let connected = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the daemon did not answer "${cmd}" within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    const done = (fn: () => void): void => {
      clearTimeout(timer);
      fn();
    };
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      connected = true;
      socket.write(`${JSON.stringify({ cmd, args })}\n`);
    });
    socket.on('data', (chunk: string) => { reply += chunk; });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')) done(() => reject(new DaemonNotRunning(socketPath, err.code!)));
      else done(() => reject(err));
    });
    socket.on('end', () => {
      let res: AdminResponse;
      try {
        res = JSON.parse(reply) as AdminResponse;
      } catch {
        done(() => reject(new Error(`the daemon's answer to "${cmd}" is not JSON: ${reply.slice(0, 200)}`)));
        return;
      }
      if (res.ok) done(() => resolve(res.result));
      else done(() => reject(new AdminCommandError(res.error.code, res.error.message)));
    });
  });
}
