import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { chmodSync, unlinkSync } from 'node:fs';
import type { Logger } from '../log.ts';
import { GatewayError } from '../errors.ts';
import { ADMIN_MAX_LINE, type AdminRequest, type AdminResponse } from './protocol.ts';

/** A command of the running daemon: gets the request's `args`, returns what the CLI prints (JSON). */
export type AdminHandler = (args: Record<string, unknown>) => Promise<unknown>;

export interface AdminServerOptions {
  /** `<data_dir>/admin.sock` (adminSocketPath). */
  path: string;
  log: Logger;
}

/**
 * The daemon's admin socket: how `iotgw upload --now`, `iotgw devices add` and friends reach the
 * running daemon. A unix socket in the data dir, mode 0600, so only the daemon's user (and root)
 * may talk to it: there is no other authentication. One JSON line in, one JSON line out, then the
 * connection closes (protocol.ts). Components register their commands before `start()`.
 *
 * Why a socket and not a signal: the CLI must learn when the daemon acted and what it did (a
 * signal says neither), and an HTTP endpoint would put operator actions on the LAN.
 */
export class AdminServer {
  private readonly handlers = new Map<string, AdminHandler>();
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: AdminServerOptions) {}

  register(cmd: string, handler: AdminHandler): void {
    if (this.handlers.has(cmd)) throw new Error(`admin command "${cmd}" is registered twice`);
    this.handlers.set(cmd, handler);
  }

  get commands(): string[] {
    return [...this.handlers.keys()].sort();
  }

  async start(): Promise<void> {
    await removeStaleSocket(this.opts.path);
    const server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // listen() creates the file with the umask's mode; tighten it before anyone can be told of it.
    chmodSync(this.opts.path, 0o600);
    server.on('error', (err) => this.opts.log.warn({ err: err.message }, 'admin socket error'));
    this.server = server;
    this.opts.log.debug({ path: this.opts.path, commands: this.commands }, 'admin socket listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      unlinkSync(this.opts.path);
    } catch {
      // already gone
    }
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setEncoding('utf8');
    let buffered = '';
    const onData = (chunk: string): void => {
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl < 0) {
        if (buffered.length > ADMIN_MAX_LINE) this.answer(socket, failure(new GatewayError('request_too_large', `an admin request may be at most ${ADMIN_MAX_LINE} bytes`)));
        return;
      }
      socket.off('data', onData);
      void this.handle(buffered.slice(0, nl)).then((res) => this.answer(socket, res));
    };
    socket.on('data', onData);
  }

  private async handle(line: string): Promise<AdminResponse> {
    let req: AdminRequest;
    try {
      req = JSON.parse(line) as AdminRequest;
      if (typeof req?.cmd !== 'string') throw new Error('no cmd');
    } catch {
      return failure(new GatewayError('bad_request', 'an admin request is one JSON object {"cmd": ..., "args": {...}} on one line'));
    }
    const handler = this.handlers.get(req.cmd);
    if (!handler) return failure(new GatewayError('unknown_command', `the daemon has no admin command "${req.cmd}" (it has: ${this.commands.join(', ')})`, 404));
    const args = req.args && typeof req.args === 'object' && !Array.isArray(req.args) ? req.args : {};
    try {
      return { ok: true, result: (await handler(args)) ?? null };
    } catch (err) {
      if (!(err instanceof GatewayError)) this.opts.log.error({ err, cmd: req.cmd }, 'admin command failed');
      return failure(err);
    }
  }

  private answer(socket: Socket, res: AdminResponse): void {
    if (socket.destroyed) return;
    socket.end(`${JSON.stringify(res)}\n`);
  }
}

function failure(err: unknown): AdminResponse {
  if (err instanceof GatewayError) return { ok: false, error: { code: err.code, message: err.message } };
  return { ok: false, error: { code: 'internal', message: (err as Error)?.message ?? String(err) } };
}

/**
 * A socket file left by a daemon that was killed blocks listen() with EADDRINUSE. Remove it only
 * when nobody answers on it: a second daemon on the same data dir must not steal the first one's.
 */
async function removeStaleSocket(path: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another iotgw daemon is running on this data dir (its admin socket ${path} answers)`);
  try {
    unlinkSync(path);
  } catch {
    // there was none
  }
}
