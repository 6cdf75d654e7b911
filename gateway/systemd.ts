/**
 * sd_notify for the daemon: READY=1, STATUS=..., WATCHDOG=1, STOPPING=1.
 *
 * READY and STATUS go through the `systemd-notify` npm package (it runs `systemd-notify --ready
 * --pid=<ours> --status=...`). That package cannot send anything else, so WATCHDOG=1 and
 * STOPPING=1 are plain `VARIABLE=VALUE` arguments of the same `/usr/bin/systemd-notify` binary,
 * spawned here. Every message comes from a child process, which is why iotgw.service has
 * `NotifyAccess=all`. The binary waits (BARRIER=1) until the receiver has read the message, so
 * systemd still knows the sender belongs to our cgroup.
 *
 * The watchdog is honest: a ping is sent every WATCHDOG_USEC/2 only when the event loop ran the
 * timer and `probe()` resolved true within that half-interval. A blocked loop, a probe that hangs
 * (a wedged Redis with no fallback) or a probe that says false all withhold the ping, and systemd
 * restarts the service after WatchdogSec.
 *
 * Without NOTIFY_SOCKET (a shell, a test, `npm start`) every method is a no-op and `probe` is never
 * called.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Logger } from './log.ts';

type NotifyOpts = { ready?: boolean; status?: string; pid?: number };
const require = createRequire(import.meta.url);
const sdNotify = require('systemd-notify') as (opts: NotifyOpts) => Promise<unknown>;

/** The binary the npm package runs (it uses PATH); ours is absolute so a hardened PATH cannot break it. */
export const SYSTEMD_NOTIFY_BIN = '/usr/bin/systemd-notify';

export interface NotifierOptions {
  config: { systemd: { watchdog: boolean; status_interval_ms: number } };
  log: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
  /**
   * Resolves true when the daemon is healthy: the event loop runs and the intake/store path made
   * progress recently or is idle and healthy. Called once per watchdog period; a probe still
   * pending after the period counts as a failure.
   */
  probe?: () => Promise<boolean>;
  /** One line for `systemctl status`, e.g. "312 readings/min, store redis, 2 hours queued, last upload 12:00Z". */
  statusText?: () => string;
}

/** The watchdog interval in ms that systemd asked for, or null (not set, invalid, or meant for another PID). */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid = process.pid): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(1, Math.floor(usec / 1000));
}

export class SystemdNotifier {
  /** True when running under systemd (NOTIFY_SOCKET is set). */
  readonly enabled: boolean;
  /** Ping period in ms (half of WatchdogSec), or null when the watchdog is off. */
  readonly pingEveryMs: number | null;
  private readonly opts: NotifierOptions;
  private watchdogTimer: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private probing = false;
  private pingInFlight = false;
  private withholding = false;
  private lastStatus = '';
  private stopped = false;
  /** Pings sent and withheld since start(); exported for /metrics and tests. */
  readonly counters = { pings: 0, withheld: 0, notifyErrors: 0 };

  constructor(opts: NotifierOptions) {
    this.opts = opts;
    // process.env, not an option: the npm package's child inherits process.env and nothing else.
    const env = process.env;
    this.enabled = Boolean(env.NOTIFY_SOCKET);
    const wd = watchdogIntervalMs(env);
    this.pingEveryMs = this.enabled && wd !== null && opts.config.systemd.watchdog ? Math.max(1, Math.floor(wd / 2)) : null;
  }

  /** True while a WATCHDOG=1 sender is running (the message may not have arrived yet). */
  get pingInProgress(): boolean {
    return this.pingInFlight;
  }

  /** Starts the watchdog and the periodic STATUS lines. Call it early: the watchdog already runs during startup. */
  start(): void {
    if (!this.enabled || this.stopped) return;
    if (this.pingEveryMs !== null && !this.watchdogTimer) {
      this.opts.log.info({ ping_every_ms: this.pingEveryMs }, 'systemd watchdog on');
      this.scheduleWatchdog();
    }
    if (this.opts.statusText && !this.statusTimer) {
      this.statusTimer = setInterval(() => { void this.sendStatusLine(); }, this.opts.config.systemd.status_interval_ms);
      this.statusTimer.unref();
    }
  }

  /** Stops the timers; sends nothing. */
  stop(): void {
    this.stopped = true;
    if (this.watchdogTimer) clearTimeout(this.watchdogTimer);
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.watchdogTimer = null;
    this.statusTimer = null;
  }

  /** READY=1 (with MAINPID and the current status line). Call after the stores are open and the port listens. */
  async ready(): Promise<boolean> {
    if (!this.enabled) return false;
    const status = this.currentStatus() ?? 'ready';
    this.lastStatus = status;
    return this.viaPackage({ ready: true, status }, 'READY=1');
  }

  /** STATUS=<text>, shown by `systemctl status iotgw`. */
  async status(text: string): Promise<boolean> {
    if (!this.enabled) return false;
    this.lastStatus = text;
    return this.viaPackage({ status: text }, 'STATUS');
  }

  /** STOPPING=1 and the timers off: call it first thing on SIGTERM, before draining. */
  async stopping(text = 'stopping: draining intake'): Promise<boolean> {
    if (!this.enabled) return false;
    this.stop();
    return this.viaBinary(['STOPPING=1', `STATUS=${text}`], 'STOPPING=1');
  }

  private currentStatus(): string | null {
    if (!this.opts.statusText) return null;
    try {
      return this.opts.statusText().replace(/\n/g, ' ');
    } catch (err) {
      this.opts.log.debug({ err }, 'status text failed');
      return null;
    }
  }

  private async sendStatusLine(): Promise<void> {
    const text = this.currentStatus();
    if (text === null || text === this.lastStatus || this.stopped) return;
    await this.status(text);
  }

  private scheduleWatchdog(): void {
    if (this.stopped || this.pingEveryMs === null) return;
    this.watchdogTimer = setTimeout(() => { void this.watchdogTick(); }, this.pingEveryMs);
    this.watchdogTimer.unref();
  }

  private async watchdogTick(): Promise<void> {
    // Schedule first: a probe that never settles must not stop later ticks from trying again.
    this.scheduleWatchdog();
    if (this.probing) return this.withhold('previous probe still pending');
    this.probing = true;
    let healthy: boolean;
    let reason = 'probe reported unhealthy';
    try {
      healthy = await this.probeWithin(this.pingEveryMs as number);
    } catch (err) {
      healthy = false;
      reason = `probe failed: ${(err as Error).message}`;
    } finally {
      this.probing = false;
    }
    if (this.stopped) return;
    if (!healthy) return this.withhold(reason);
    if (this.withholding) {
      this.withholding = false;
      this.opts.log.info('systemd watchdog: healthy again, pings resumed');
    }
    if (this.pingInFlight) return; // the previous systemd-notify has not returned yet; do not pile them up
    this.pingInFlight = true;
    try {
      if (await this.viaBinary(['WATCHDOG=1'], 'WATCHDOG=1')) this.counters.pings++;
    } finally {
      this.pingInFlight = false;
    }
  }

  private probeWithin(ms: number): Promise<boolean> {
    const probe = this.opts.probe;
    if (!probe) return Promise.resolve(true);
    return new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => resolve(false), ms);
      timer.unref();
      probe().then((v) => { clearTimeout(timer); resolve(v === true); }, (err) => { clearTimeout(timer); reject(err); });
    });
  }

  private withhold(reason: string): void {
    this.counters.withheld++;
    if (!this.withholding) {
      this.withholding = true;
      this.opts.log.warn({ reason }, 'systemd watchdog: withholding WATCHDOG=1; systemd restarts the service if this lasts past WatchdogSec');
    }
  }

  private async viaPackage(opts: NotifyOpts, what: string): Promise<boolean> {
    try {
      await sdNotify(opts);
      return true;
    } catch (err) {
      return this.failed(what, err);
    }
  }

  private viaBinary(args: string[], what: string): Promise<boolean> {
    return new Promise((resolve) => {
      let stderr = '';
      const child = spawn(SYSTEMD_NOTIFY_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr.on('data', (d) => { stderr += d; });
      child.on('error', (err) => resolve(this.failed(what, err)));
      child.on('close', (code) => resolve(code === 0 ? true : this.failed(what, stderr.trim() || `exit ${code}`)));
    });
  }

  private failed(what: string, err: unknown): false {
    this.counters.notifyErrors++;
    this.opts.log.warn({ err: err instanceof Error ? err.message : String(err) }, `sd_notify ${what} failed`);
    return false;
  }
}
