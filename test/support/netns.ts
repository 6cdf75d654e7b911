import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';
import { waitFor } from './ports.ts';

/**
 * Network namespaces for mDNS tests: multicast never leaves namespaces the test created, and the
 * host's interfaces see nothing. Every namespace made here is deleted by `destroyAll()` (call it
 * in `after()`), and by name prefix `iotgw-t-` only ever ones this helper created.
 */
const created = new Set<string>();

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
}

/** Whether this process may create namespaces (root, or CAP_SYS_ADMIN); the reason when not. */
export function netnsProbe(): { ok: true } | { ok: false; reason: string } {
  const name = `iotgw-t-probe-${randomBytes(3).toString('hex')}`;
  const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, reason: `cannot create network namespaces (ip netns add: ${(r.stderr || r.error?.message || 'failed').trim()})` };
  spawnSync('ip', ['netns', 'del', name]);
  return { ok: true };
}

export class Netns {
  private constructor(readonly name: string) {}

  /** A fresh namespace with `lo` up. `multicastLo` also lets multicast run on `lo` (one-host tests). */
  static create(opts: { multicastLo?: boolean } = {}): Netns {
    const name = `iotgw-t-${randomBytes(4).toString('hex')}`;
    ip(['netns', 'add', name]);
    created.add(name);
    const ns = new Netns(name);
    ns.ip(['link', 'set', 'lo', 'up']);
    if (opts.multicastLo) {
      ns.ip(['link', 'set', 'lo', 'multicast', 'on']);
      ns.ip(['route', 'add', '224.0.0.0/4', 'dev', 'lo']);
    }
    return ns;
  }

  /** A veth pair between two namespaces, each end with an address and the multicast route. */
  static link(a: Netns, aAddr: string, b: Netns, bAddr: string, prefix = 24): { aIf: string; bIf: string } {
    const tag = randomBytes(3).toString('hex');
    const aIf = `va${tag}`;
    const bIf = `vb${tag}`;
    ip(['link', 'add', aIf, 'netns', a.name, 'type', 'veth', 'peer', 'name', bIf, 'netns', b.name]);
    for (const [ns, ifn, addr] of [[a, aIf, aAddr], [b, bIf, bAddr]] as const) {
      ns.ip(['addr', 'add', `${addr}/${prefix}`, 'dev', ifn]);
      ns.ip(['link', 'set', ifn, 'up']);
      ns.ip(['route', 'add', '224.0.0.0/4', 'dev', ifn]);
    }
    return { aIf, bIf };
  }

  ip(args: string[]): void {
    ip(['-n', this.name, ...args]);
  }

  /** Spawns `node --import tsx <script>` inside the namespace. */
  node(script: string, env: Record<string, string> = {}): JsonLinesChild {
    const child = spawn('ip', ['netns', 'exec', this.name, process.execPath, '--import', 'tsx', script], {
      env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new JsonLinesChild(child);
  }

  destroy(): void {
    spawnSync('ip', ['netns', 'del', this.name]);
    created.delete(this.name);
  }

  static destroyAll(): void {
    for (const name of created) spawnSync('ip', ['netns', 'del', name]);
    created.clear();
  }
}

/**
 * A child that speaks JSON lines: requests `{id, cmd, ...}` on stdin, replies `{id, result|error}`
 * and events `{event, ...}` on stdout; stderr lines (pino JSON logs) are kept in `logs`.
 */
export class JsonLinesChild {
  readonly events: Record<string, unknown>[] = [];
  readonly logs: Record<string, unknown>[] = [];

  /** The log lines at warn level or above (pino: 40 warn, 50 error, 60 fatal). */
  get warnings(): Record<string, unknown>[] {
    return this.logs.filter((l) => Number(l.level) >= 40);
  }
  readonly stderrText: string[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  exited: number | null = null;

  constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let msg: Record<string, unknown>;
      try { msg = JSON.parse(line); } catch { this.stderrText.push(`stdout: ${line}`); return; }
      if (typeof msg.id === 'number' && this.pending.has(msg.id)) {
        const p = this.pending.get(msg.id)!;
        this.pending.delete(msg.id);
        if (msg.error) p.reject(new Error(String(msg.error)));
        else p.resolve(msg.result);
      } else this.events.push(msg);
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      try { this.logs.push(JSON.parse(line)); } catch { this.stderrText.push(line); }
    });
    proc.on('exit', (code) => {
      this.exited = code ?? -1;
      for (const p of this.pending.values()) p.reject(new Error(`child exited (${code}): ${this.stderrText.slice(-5).join('\n')}`));
      this.pending.clear();
    });
  }

  request<T = unknown>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.stdin!.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    });
  }

  waitEvent(name: string, timeoutMs = 20000): Promise<Record<string, unknown>> {
    return waitFor(() => this.events.find((e) => e.event === name) ?? (this.exited !== null ? Promise.reject(new Error(`child exited ${this.exited}: ${this.stderrText.slice(-5).join('\n')}`)) : null), timeoutMs, `event ${name}`);
  }

  async kill(): Promise<void> {
    if (this.exited !== null) return;
    this.proc.kill('SIGKILL');
    await waitFor(() => this.exited !== null, 5000, 'child exit');
  }
}

/** A discovery fixture that could not start mDNS: exactly one warning, that discovery is degraded, and a clean stop. */
export async function expectDegradedOnceThenStop(gw: JsonLinesChild): Promise<void> {
  const warnings = gw.warnings;
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.match(String(warnings[0].msg), /mDNS discovery degraded/);
  assert.equal(await gw.request('stop'), 'stopped');
}
