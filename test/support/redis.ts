import { spawn, type ChildProcess } from 'node:child_process';
import { Socket } from 'node:net';
import { freePort, tempDir, waitFor } from './ports.ts';

export interface RedisOptions {
  /** appendonly yes + appendfsync everysec, as deploy/ configures production. */
  appendonly?: boolean;
  port?: number;
  dir?: string;
  extraArgs?: string[];
}

/**
 * A real redis-server on a free port in its own temp dir. `stop()`/`start()` restart it on the
 * same port and dir (the AOF survives), `kill()` is SIGKILL, `pause()`/`resume()` are
 * SIGSTOP/SIGCONT for a wedged-but-connected Redis.
 */
export class TestRedis {
  port = 0;
  dir = '';
  private proc: ChildProcess | null = null;
  private tmp: { path: string; cleanup(): void } | null = null;
  constructor(private readonly opts: RedisOptions = {}) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    if (!this.port) this.port = this.opts.port ?? (await freePort());
    if (!this.dir) {
      this.tmp = this.opts.dir ? null : tempDir('iotgw-redis-');
      this.dir = this.opts.dir ?? this.tmp!.path;
    }
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--daemonize', 'no', '--logfile', '', '--loglevel', 'warning'];
    if (this.opts.appendonly) args.push('--appendonly', 'yes', '--appendfsync', 'everysec');
    else args.push('--appendonly', 'no');
    args.push(...(this.opts.extraArgs ?? []));
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    let stderr = '';
    proc.stderr?.on('data', (d) => { stderr += d; });
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`redis-server exited ${proc.exitCode}: ${stderr}`);
      return (await this.command('PING')) === '+PONG';
    }, 10000, `redis-server on port ${this.port}`);
    return this;
  }

  /** One raw RESP command over a fresh socket; returns the first reply line. Independent of ioredis on purpose. */
  command(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = new Socket();
      let buf = '';
      sock.setTimeout(2000, () => { sock.destroy(); reject(new Error('redis command timed out')); });
      sock.on('error', reject);
      sock.on('data', (d) => {
        buf += d;
        if (buf.includes('\r\n')) { sock.end(); resolve(buf.split('\r\n')[0]); }
      });
      sock.connect(this.port, '127.0.0.1', () => {
        sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
      });
    });
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGCONT');
    proc.kill('SIGTERM');
    await exited;
    this.proc = null;
  }

  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
    this.proc = null;
  }

  pause(): void { this.proc?.kill('SIGSTOP'); }
  resume(): void { this.proc?.kill('SIGCONT'); }
  get pid(): number | undefined { return this.proc?.pid; }

  async destroy(): Promise<void> {
    await this.kill();
    this.tmp?.cleanup();
  }
}
