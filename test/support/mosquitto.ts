import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { freePort, tempDir, waitFor } from './ports.ts';

export interface MosquittoOptions {
  /** Extra lines for mosquitto.conf (`max_inflight_messages 5`). */
  config?: string[];
}

/**
 * A real Debian `mosquitto` on a free port on 127.0.0.1, with its own config file and persistence
 * dir in a temp dir: never the machine's service on 1883. Set `port` before `start()` to have it
 * come up where a client already waits.
 */
export class TestMosquitto {
  port = 0;
  private proc: ChildProcess | null = null;
  private readonly tmp = tempDir('iotgw-mosquitto-');
  log = '';

  constructor(private readonly opts: MosquittoOptions = {}) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    const conf = join(this.tmp.path, 'mosquitto.conf');
    writeFileSync(conf, [
      `listener ${this.port} 127.0.0.1`,
      'allow_anonymous true',
      `persistence_location ${this.tmp.path}/`,
      'persistence false',
      // A bridge session may hold more than the default 1000 messages while the gateway is away.
      'max_queued_messages 100000',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      ...(this.opts.config ?? []),
      '',
    ].join('\n'));
    const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    let spawnError: Error | null = null;
    proc.once('error', (err) => { spawnError = err; });
    proc.stderr!.on('data', (d) => { this.log = (this.log + d).slice(-20000); });
    await waitFor(async () => {
      if (spawnError) throw new Error(`cannot run mosquitto (scripts/install-deps.sh installs it): ${(spawnError as Error).message}`);
      if (proc.exitCode !== null) throw new Error(`mosquitto exited ${proc.exitCode}: ${this.log}`);
      return canConnect(this.port);
    }, 10000, `mosquitto on port ${this.port}`);
    return this;
  }

  async destroy(): Promise<void> {
    const proc = this.proc;
    if (proc && proc.exitCode === null) {
      proc.kill('SIGKILL');
      await once(proc, 'exit');
    }
    this.tmp.cleanup();
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.connect(port, '127.0.0.1');
  });
}
