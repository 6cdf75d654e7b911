import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import { freePort, waitFor } from './ports.ts';
import { postJson, getJson, type JsonResponse } from './http.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface GatewayProcessOptions {
  dataDir: string;
  redisUrl?: string;
  mongoUri?: string;
  port?: number;
  env?: Record<string, string>;
  args?: string[];
  /** Written as a real YAML config file (next to the data dir) and passed with IOTGW_CONFIG. */
  config?: Record<string, unknown>;
  /** Run this compiled bundle (scripts/build.mjs output) with plain node instead of the sources through tsx. */
  built?: string;
}

/**
 * The real daemon (`gateway/main.ts start`) in a child process, as systemd runs it. Log lines
 * are parsed as they arrive; `kill()` is SIGKILL for crash tests, `stop()` a graceful SIGTERM.
 */
export class GatewayProcess {
  port = 0;
  readonly logs: Record<string, unknown>[] = [];
  stderr = '';
  private proc: ChildProcess | null = null;
  private exited: Promise<number | null> | null = null;

  constructor(private readonly opts: GatewayProcessOptions) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<this> {
    if (!this.port) this.port = this.opts.port ?? (await freePort());
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      IOTGW_PORT: String(this.port),
      IOTGW_HOST: '127.0.0.1',
      IOTGW_DATA_DIR: this.opts.dataDir,
      IOTGW_REDIS_URL: this.opts.redisUrl ?? 'none',
      IOTGW_MONGODB_URI: this.opts.mongoUri ?? '',
      IOTGW_DISCOVERY: 'off',
      IOTGW_CONFIG: this.opts.config ? this.writeConfig(this.opts.config) : '',
      ...this.opts.env,
    };
    delete env.MONGODB_URI;
    delete env.NOTIFY_SOCKET;
    const entry = this.opts.built ? [this.opts.built] : ['--import', 'tsx', join(root, 'gateway/main.ts')];
    const proc = spawn(process.execPath, [...entry, 'start', ...(this.opts.args ?? [])], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.exited = new Promise((r) => proc.once('exit', (code) => r(code)));
    let partial = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line));
        } catch {
          this.logs.push({ msg: line });
        }
      }
    });
    proc.stderr!.on('data', (d) => { this.stderr += d; });
    await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`gateway exited ${proc.exitCode}: ${this.stderr}${JSON.stringify(this.logs.slice(-5))}`);
      return this.logs.some((l) => l.msg === 'listening');
    }, 30000, 'gateway to listen');
    return this;
  }

  private writeConfig(config: Record<string, unknown>): string {
    const file = `${this.opts.dataDir.replace(/\/$/, '')}.config.yaml`;
    writeFileSync(file, toYaml(config));
    return file;
  }

  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs = 15000): Promise<Record<string, unknown>> {
    return waitFor(() => this.logs.find(match), timeoutMs, 'a matching log line');
  }

  /** Graceful stop; resolves with the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (!this.proc || this.proc.exitCode !== null) return this.proc?.exitCode ?? null;
    this.proc.kill(signal);
    return this.exited;
  }

  async kill(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
    return postJson(this.url + path, body, headers);
  }

  get(path: string): Promise<JsonResponse> {
    return getJson(this.url + path);
  }
}
