import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { type CheckContext, type CheckResult, errText, result, within } from '../types.ts';

/** Receive timestamps need a synced clock; a Pi has no RTC and starts in the past until NTP syncs. */
export function checkClock(ctx: CheckContext): CheckResult {
  const name = 'clock';
  const now = new Date();
  if (now.getUTCFullYear() < 2025) return result(name, 'fail', `system time is ${now.toISOString()}: not set`, 'sudo systemctl enable --now systemd-timesyncd; check that UDP 123 reaches an NTP server');
  const bin = ctx.opts.timedatectl ?? 'timedatectl';
  const r = spawnSync(bin, ['show', '-p', 'NTPSynchronized', '--value'], { encoding: 'utf8', timeout: ctx.timeoutMs });
  const answer = r.status === 0 ? r.stdout.trim() : '';
  if (answer === 'yes') return result(name, 'ok', `NTP synchronized, ${now.toISOString()}`);
  if (answer === 'no') return result(name, 'fail', `not NTP synchronized (${now.toISOString()}): readings get wrong hours`, 'sudo systemctl enable --now systemd-timesyncd; timedatectl timesync-status');
  const why = r.error ? errText(r.error) : (r.stderr || r.stdout).trim().split('\n')[0] || `exit ${r.status}`;
  return result(name, 'warn', `NTP sync unknown (timedatectl: ${why}), ${now.toISOString()}`, 'check the clock by hand: chronyc tracking or ntpq -p');
}

/** Devices find the gateway over mDNS (UDP 5353, multicast 224.0.0.251). */
export async function checkMdns(ctx: CheckContext): Promise<CheckResult> {
  const name = 'mdns';
  const d = ctx.config.discovery;
  if (!d.enabled) return result(name, 'note', 'discovery disabled: devices need the gateway address configured', 'set discovery.enabled: true for zero-config boards');
  const avahi = existsSync(ctx.opts.avahiSocket ?? '/run/avahi-daemon/socket');
  if (d.backend === 'avahi') {
    return avahi ? result(name, 'ok', 'avahi-daemon is running (backend avahi)')
      : result(name, 'fail', 'discovery.backend is avahi but avahi-daemon is not running', 'sudo apt-get install avahi-daemon && sudo systemctl enable --now avahi-daemon, or set discovery.backend: bonjour');
  }
  const sock = createSocket({ type: 'udp4', reuseAddr: true });
  try {
    await within(new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(5353, () => resolve());
    }), ctx.timeoutMs, 'bind UDP 5353');
    try {
      sock.addMembership('224.0.0.251');
    } catch (err) {
      return result(name, 'warn', `UDP 5353 bound, but joining 224.0.0.251 failed: ${errText(err)}`, 'the interface needs multicast: ip link show; ip route | grep 224.0.0.0');
    }
    return result(name, 'ok', `UDP 5353 bound with reuseAddr, joined 224.0.0.251${avahi ? '; avahi-daemon also running (they share the port)' : ''}`);
  } catch (err) {
    return result(name, 'fail', `cannot bind UDP 5353: ${errText(err)}`, 'another mDNS responder holds the port exclusively; use discovery.backend: avahi or stop it');
  } finally {
    try { sock.close(); } catch { /* not bound */ }
  }
}

/** Whether a daemon answers on the configured port (doctor usually runs while it does). */
export async function checkDaemon(ctx: CheckContext): Promise<CheckResult> {
  const name = 'daemon';
  const port = ctx.config.http.port;
  const host = ['0.0.0.0', '::', ''].includes(ctx.config.http.host) ? '127.0.0.1' : ctx.config.http.host;
  try {
    const status = await within(new Promise<number>((resolve, reject) => {
      const req = request({ host, port, path: '/healthz', method: 'GET', timeout: ctx.timeoutMs }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.end();
    }), ctx.timeoutMs, 'GET /healthz');
    return status === 200 ? result(name, 'ok', `http://${host}:${port}/healthz answers 200`)
      : result(name, 'warn', `http://${host}:${port}/healthz answers ${status}`, 'journalctl -u iotgw -n 100');
  } catch (err) {
    const refused = (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
    return result(name, 'note', refused ? `nothing listens on ${host}:${port} (iotgw not running?)` : `${host}:${port}: ${errText(err)}`, 'sudo systemctl start iotgw; systemctl status iotgw; journalctl -u iotgw -n 100');
  }
}
