/**
 * The notifier against the real /usr/bin/systemd-notify and a real unix datagram socket: what
 * systemd would receive. Counts are checked over windows ("at least n"), never against a clock.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { SystemdNotifier, watchdogIntervalMs, SYSTEMD_NOTIFY_BIN } from '../gateway/systemd.ts';
import { NotifySocket } from './support/notify-socket.ts';
import { waitFor } from './support/ports.ts';

const skip = existsSync(SYSTEMD_NOTIFY_BIN) ? false : `${SYSTEMD_NOTIFY_BIN} missing (apt-get install systemd)`;
const logged: string[] = [];
const log = {
  info: (...a: unknown[]) => { logged.push(`info ${a.map(String).join(' ')}`); },
  warn: (...a: unknown[]) => { logged.push(`warn ${a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ')}`); },
  error: (...a: unknown[]) => { logged.push(`error ${a.map(String).join(' ')}`); },
  debug: () => {},
};
const config = (watchdog = true, status_interval_ms = 100) => ({ systemd: { watchdog, status_interval_ms } });

let sock: NotifySocket;
const saved = { NOTIFY_SOCKET: process.env.NOTIFY_SOCKET, WATCHDOG_USEC: process.env.WATCHDOG_USEC, WATCHDOG_PID: process.env.WATCHDOG_PID };

before(async () => {
  if (skip) return;
  sock = await new NotifySocket().start();
});
after(async () => {
  await sock?.close();
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
});

function underSystemd(watchdogUsec?: number): void {
  process.env.NOTIFY_SOCKET = sock.path;
  if (watchdogUsec === undefined) delete process.env.WATCHDOG_USEC; else process.env.WATCHDOG_USEC = String(watchdogUsec);
  delete process.env.WATCHDOG_PID;
}

test('without NOTIFY_SOCKET everything is a no-op and the probe is never called', async () => {
  delete process.env.NOTIFY_SOCKET;
  process.env.WATCHDOG_USEC = '200000';
  let probes = 0;
  const n = new SystemdNotifier({ config: config(), log, probe: async () => { probes++; return true; }, statusText: () => 'x' });
  assert.equal(n.enabled, false);
  assert.equal(n.pingEveryMs, null);
  n.start();
  assert.equal(await n.ready(), false);
  assert.equal(await n.status('x'), false);
  assert.equal(await n.stopping(), false);
  assert.equal(probes, 0);
});

test('watchdogIntervalMs reads WATCHDOG_USEC and honours WATCHDOG_PID', () => {
  assert.equal(watchdogIntervalMs({}), null);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }), 30000);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: 'junk' }), null);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(process.pid) }), 1000);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '1000000', WATCHDOG_PID: '1' }), null);
});

test('READY=1 carries MAINPID and the status line; STATUS= follows the statusText callback', { skip }, async () => {
  underSystemd();
  let calls = 0;
  const n = new SystemdNotifier({ config: config(true, 100), log, statusText: () => `${++calls} readings/min, store redis` });
  assert.equal(n.enabled, true);
  assert.equal(n.pingEveryMs, null, 'no WATCHDOG_USEC, no watchdog');
  const since = sock.messages.length;
  assert.equal(await n.ready(), true);
  const ready = await sock.waitFor('READY', '1', since);
  assert.equal(ready.fields.MAINPID, String(process.pid));
  assert.match(ready.fields.STATUS, /readings\/min, store redis$/);
  n.start();
  await waitFor(() => new Set(sock.with('STATUS', undefined, since).map((m) => m.fields.STATUS)).size >= 3, 15000, 'three distinct STATUS lines');
  assert.equal(await n.status('manual line'), true);
  await sock.waitFor('STATUS', 'manual line', since);
  await n.stopping();
  assert.equal(sock.count('WATCHDOG', undefined, since), 0);
});

test('WATCHDOG=1 flows while the probe says healthy, stops while the store is wedged, resumes, and STOPPING=1 ends it', { skip }, async (t) => {
  underSystemd(200_000); // WatchdogSec=200ms -> a ping every 100ms
  let wedged = false;
  let hung = 0;
  let probes = 0;
  // A wedged store: the probe's store write never completes (like a SIGSTOPped redis-server).
  const probe = (): Promise<boolean> => { probes++; return wedged ? new Promise(() => { hung++; }) : Promise.resolve(true); };
  const n = new SystemdNotifier({ config: config(true, 60_000), log, probe });
  t.after(() => n.stop()); // a failed assertion must not leave pings running into the next test
  assert.equal(n.pingEveryMs, 100);
  const t0 = sock.messages.length;
  n.start();
  await n.ready();
  // A ping is counted when its systemd-notify child exits, which can lag the datagram under load.
  await waitFor(() => sock.count('WATCHDOG', '1', t0) >= 5 && n.counters.pings >= 5, 15000, 'five WATCHDOG=1 pings');

  wedged = true;
  const probesAtWedge = probes;
  // From here no probe resolves true, so once the ping already under way (if any) has landed, no
  // further WATCHDOG=1 can be produced. Take the mark then, and watch several periods go by.
  await waitFor(() => n.counters.withheld >= 2 && !n.pingInProgress, 15000, 'pings withheld');
  const mark = sock.messages.length;
  const withheldAtMark = n.counters.withheld;
  await waitFor(() => n.counters.withheld >= withheldAtMark + 5, 15000, 'five more withheld periods');
  assert.equal(sock.count('WATCHDOG', undefined, mark), 0, 'no WATCHDOG=1 while the store is wedged');
  assert.ok(hung >= 1 && probes > probesAtWedge);
  assert.ok(logged.some((l) => l.includes('withholding WATCHDOG=1')));

  wedged = false;
  await waitFor(() => sock.count('WATCHDOG', '1', mark) >= 3, 15000, 'pings resumed');
  assert.ok(logged.some((l) => l.includes('pings resumed')));

  const s = sock.messages.length;
  await n.stopping();
  const stop = await sock.waitFor('STOPPING', '1', s);
  assert.match(stop.fields.STATUS, /stopping/);
  // stopping() turned the timers off: no ping is started afterwards.
  await waitFor(() => !n.pingInProgress, 15000, 'last ping settled');
  const afterStop = sock.messages.length;
  const probesAfterStop = probes;
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(probes, probesAfterStop, 'no probe after stopping()');
  assert.equal(sock.count('WATCHDOG', undefined, afterStop), 0);
});

test('a probe that says false (not just hangs) also withholds pings; config.systemd.watchdog=false disables them', { skip }, async (t) => {
  underSystemd(200_000);
  let healthy = false;
  const n = new SystemdNotifier({ config: config(true), log, probe: async () => healthy });
  t.after(() => n.stop());
  const t0 = sock.messages.length;
  n.start();
  await waitFor(() => n.counters.withheld >= 3, 15000, 'withheld');
  assert.equal(sock.count('WATCHDOG', undefined, t0), 0);
  healthy = true;
  await sock.waitFor('WATCHDOG', '1', t0);
  n.stop();

  const off = new SystemdNotifier({ config: config(false), log, probe: async () => true });
  assert.equal(off.pingEveryMs, null);
});
