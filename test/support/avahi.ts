import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Netns } from './netns.ts';
import { waitFor } from './ports.ts';

/** Why a real avahi-daemon cannot run here, or null when it can. */
export function avahiMissing(): string | null {
  for (const bin of ['avahi-daemon', 'avahi-publish', 'avahi-browse', 'dbus-daemon']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) return `${bin} is not installed (apt-get install avahi-daemon avahi-utils dbus)`;
  }
  return null;
}

/**
 * A private D-Bus "system" bus and an avahi-daemon inside a namespace, as on a Raspberry Pi but
 * without touching the host's bus: clients find it through DBUS_SYSTEM_BUS_ADDRESS (`env`).
 */
export class AvahiDaemon {
  readonly env: Record<string, string>;
  private dbus: ChildProcess | null = null;
  private daemon: ChildProcess | null = null;
  readonly log: string[] = [];

  constructor(private readonly ns: Netns, private readonly dir: string) {
    this.env = { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(dir, 'bus')}` };
  }

  async start(): Promise<void> {
    writeFileSync(join(this.dir, 'bus.conf'), `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=${join(this.dir, 'bus')}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*" eavesdrop="true"/><allow receive_sender="*"/></policy></busconfig>\n`);
    writeFileSync(join(this.dir, 'avahi.conf'), '[server]\nuse-ipv4=yes\nuse-ipv6=no\nenable-dbus=yes\nratelimit-burst=1000\n[publish]\npublish-hinfo=no\npublish-workstation=no\n');
    this.dbus = spawn('ip', ['netns', 'exec', this.ns.name, 'dbus-daemon', `--config-file=${join(this.dir, 'bus.conf')}`, '--nofork', '--nopidfile'], { stdio: 'ignore' });
    await waitFor(() => spawnSync('test', ['-S', join(this.dir, 'bus')]).status === 0, 10000, 'dbus socket');
    this.daemon = spawn('ip', ['netns', 'exec', this.ns.name, 'avahi-daemon', '-f', join(this.dir, 'avahi.conf'), '--no-drop-root', '--no-chroot', '--no-rlimits'], { env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const s of [this.daemon.stdout!, this.daemon.stderr!]) s.on('data', (b: Buffer) => this.log.push(...b.toString().split('\n').filter(Boolean)));
    await waitFor(() => this.log.some((l) => l.includes('Server startup complete')) || (this.daemon?.exitCode != null ? Promise.reject(new Error(this.log.join('\n'))) : false), 15000, 'avahi-daemon startup');
  }

  /** Runs an avahi client in the namespace against this daemon. */
  run(args: string[], timeoutMs = 10000): string {
    const r = spawnSync('ip', ['netns', 'exec', this.ns.name, ...args], { env: { ...process.env, ...this.env }, encoding: 'utf8', timeout: timeoutMs });
    return r.stdout;
  }

  async stop(): Promise<void> {
    for (const p of [this.daemon, this.dbus]) {
      if (!p || p.exitCode !== null) continue;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
  }
}
