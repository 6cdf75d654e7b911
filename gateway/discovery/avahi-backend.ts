import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { createInterface } from 'node:readline';
import type { BackendContext, DiscoveryBackend } from './backend.ts';
import { parseAvahiLine } from './avahi-parse.ts';
import { decodeTxt, gatewayTxt, instanceLabel, mqttTxt, type HostAddresses } from './names.ts';
import { NetWatcher } from './net-watcher.ts';

const GATEWAY_TYPE = '_iotgw._tcp';
const DEVICE_TYPE = '_iotgw-dev._tcp';
const MQTT_TYPE = '_mqtt._tcp';

interface Child {
  what: string;
  cmd: string;
  onLine?: (line: string) => void;
  args: string[];
  proc: ChildProcess | null;
  restartMs: number;
  timer: NodeJS.Timeout | null;
}

/**
 * Delegates mDNS to the host's avahi-daemon through its command-line clients (avahi-utils), which
 * talk to the daemon over D-Bus:
 * - `avahi-publish -s` keeps the service registered while it runs (one more for `_mqtt._tcp` with
 *   the broker on); avahi answers, announces, resolves name conflicts and sends the goodbyes when
 *   the process ends;
 * - `avahi-publish -a -R <host_name>.local <addr>` per address when `host_name` is not the host's
 *   own name (which avahi already publishes), re-spawned when the addresses change;
 * - `avahi-browse -rpk _iotgw-dev._tcp` reports resolved devices (`=`) and removals (`-`, after a
 *   goodbye or TTL expiry, which avahi tracks).
 * A client that exits (daemon restarted, not running) is restarted with backoff; the first
 * failure is the one warning.
 */
export class AvahiBackend implements DiscoveryBackend {
  readonly name = 'avahi';
  private readonly children: Child[] = [];
  private addressChildren: Child[] = [];
  private readonly watcher: NetWatcher;
  private stopped = false;
  /** instance name → (iface/protocol → resolved entry). */
  private readonly instances = new Map<string, Map<string, { id: string; group: string | null; fw: string | null; mac: string | null; host: string; address: string; port: number }>>();

  constructor(private readonly ctx: BackendContext) {
    this.watcher = new NetWatcher(ctx.config.discovery.interfaces, ctx.pollMs);
  }

  async start(): Promise<void> {
    const d = this.ctx.config.discovery;
    const txt = gatewayTxt(this.ctx.config, this.ctx.version);
    const host = `${d.host_name}.local`;
    const instance = instanceLabel(d.instance_name ?? `iotgw ${this.ctx.config.gateway_id}`);
    const service = (type: string, port: number, record: Record<string, string>) => ['-s', '-H', host, instance, type, String(port), ...Object.entries(record).map(([k, v]) => `${k}=${v}`)];
    this.children.push(this.child('avahi-publish (service)', 'avahi-publish', service(GATEWAY_TYPE, this.ctx.port, txt)));
    if (this.ctx.mqttPort !== null) this.children.push(this.child('avahi-publish (MQTT service)', 'avahi-publish', service(MQTT_TYPE, this.ctx.mqttPort, mqttTxt(this.ctx.config))));
    this.children.push(this.child('avahi-browse', 'avahi-browse', ['-r', '-p', '-k', DEVICE_TYPE], (line) => this.onBrowseLine(line)));
    this.publishAddresses(this.watcher.addresses);
    this.watcher.on('change', (next) => this.publishAddresses(next));
    this.watcher.start();
    for (const c of this.children) this.spawn(c);
    this.ctx.log.info({ host, port: this.ctx.port }, 'advertising the gateway through avahi-daemon');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher.stop();
    await Promise.all([...this.children, ...this.addressChildren].map((c) => this.kill(c)));
  }

  /** Publishes `<host_name>.local` → each address unless avahi already publishes that name. */
  private publishAddresses(addrs: HostAddresses): void {
    const d = this.ctx.config.discovery;
    if (d.host_name.toLowerCase() === hostname().split('.')[0].toLowerCase()) return;
    const old = this.addressChildren;
    this.addressChildren = [...addrs.ipv4, ...addrs.ipv6].map((a) => this.child(`avahi-publish (address ${a})`, 'avahi-publish', ['-a', '-R', `${d.host_name}.local`, a]));
    void Promise.all(old.map((c) => this.kill(c))).then(() => { if (!this.stopped) for (const c of this.addressChildren) this.spawn(c); });
  }

  private child(what: string, cmd: string, args: string[], onLine?: (line: string) => void): Child {
    return { what, cmd, args, onLine, proc: null, restartMs: 1000, timer: null };
  }

  private spawn(c: Child): void {
    if (this.stopped) return;
    let stderr = '';
    const proc = spawn(c.cmd, c.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    c.proc = proc;
    proc.stderr?.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-500); });
    if (c.onLine) createInterface({ input: proc.stdout! }).on('line', c.onLine);
    else proc.stdout?.resume();
    proc.on('error', (err: NodeJS.ErrnoException) => {
      this.ctx.onProblem(err.code === 'ENOENT' ? `${c.cmd} not found: install avahi-utils or use discovery.backend: bonjour` : `${c.what}: ${err.message}`);
    });
    proc.on('exit', (code, signal) => {
      if (c.proc !== proc) return;
      c.proc = null;
      if (this.stopped || !this.children.concat(this.addressChildren).includes(c)) return;
      const why = stderr.trim().split('\n').pop() || `exit ${code ?? signal}`;
      this.ctx.onProblem(`${c.what} stopped: ${why}`);
      if (c.onLine) this.dropAll();
      c.timer = setTimeout(() => this.spawn(c), c.restartMs);
      c.timer.unref();
      c.restartMs = Math.min(c.restartMs * 2, 60000);
    });
  }

  private kill(c: Child): Promise<void> {
    if (c.timer) clearTimeout(c.timer);
    const p = c.proc;
    c.proc = null;
    if (!p || p.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => p.kill('SIGKILL'), 3000);
      p.once('exit', () => { clearTimeout(t); resolve(); });
      p.kill('SIGTERM');
    });
  }

  private onBrowseLine(line: string): void {
    const ev = parseAvahiLine(line);
    if (!ev || ev.type !== DEVICE_TYPE) return;
    const slot = `${ev.iface}/${ev.protocol}`;
    const entries = this.instances.get(ev.name);
    if (ev.kind === 'removed') {
      const gone = entries?.get(slot);
      entries?.delete(slot);
      if (gone && entries && entries.size === 0) {
        this.instances.delete(ev.name);
        this.ctx.sink.recordGoodbye(gone.id);
      }
      return;
    }
    if (ev.kind !== 'resolved') return;
    const txt = decodeTxt(ev.txt);
    if (!txt.id) return;
    const map = entries ?? new Map();
    map.set(slot, { id: txt.id, group: txt.group || null, fw: txt.fw || null, mac: txt.mac || null, host: ev.host, address: ev.address, port: ev.port });
    this.instances.set(ev.name, map);
    const all = [...map.values()];
    this.ctx.sink.recordAnnouncement({ id: txt.id, group: txt.group || null, fw: txt.fw || null, mac: txt.mac || null, host: ev.host, port: ev.port, addresses: [...new Set(all.map((e) => e.address))] });
  }

  /** The browser died: what it reported can no longer be trusted to be withdrawn; forget it (states age out). */
  private dropAll(): void {
    this.instances.clear();
  }
}
