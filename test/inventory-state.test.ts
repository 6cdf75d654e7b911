import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../gateway/config.ts';
import { Inventory } from '../gateway/inventory/inventory.ts';
import { deviceState, nextTransitionAt } from '../gateway/inventory/state.ts';
import { MinuteCounter } from '../gateway/inventory/rate-window.ts';
import type { Reading } from '../gateway/reading.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const config = loadConfig({ env: {}, overrides: { 'discovery.expected_interval_seconds': 10, 'discovery.stale_after_seconds': 30, 'discovery.offline_after_seconds': 120 } });

function reading(device_id: string, at: number, extra: Record<string, unknown> = {}): Reading {
  return { id: `r-${device_id}-${at}-${Math.random()}`, device_id, group_id: 'g1', window: 0, received_at: at, doc: { device_id, group_id: 'g1', timestamp: new Date(at).toISOString(), status: 'online', ...extra } };
}

function setup(maxDevices?: number) {
  let now = T0;
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
  const registry = new Registry();
  const inv = new Inventory({ config, log, metrics: { registry }, dbPath: null, clock: () => now, tickMs: 0, persistIntervalMs: 0, maxDevices });
  return { inv, registry, lines, advance: (ms: number) => { now += ms; }, now: () => now };
}

const metric = async (registry: Registry, name: string, state: string): Promise<number> => {
  const m = await registry.getSingleMetric(name)!.get();
  return m.values.find((v) => v.labels.state === state)?.value ?? 0;
};

test('state rules: discovered, online, stale, offline by age, and goodbye', () => {
  const t = { expectedMs: 10_000, staleMs: 30_000, offlineMs: 120_000 };
  assert.equal(deviceState({ lastReading: null, lastAnnouncement: 0, goodbyeAt: null }, 1000, t), 'discovered');
  assert.equal(deviceState({ lastReading: null, lastAnnouncement: 0, goodbyeAt: null }, 120_001, t), 'offline');
  assert.equal(deviceState({ lastReading: 0, lastAnnouncement: null, goodbyeAt: null }, 30_000, t), 'online');
  assert.equal(deviceState({ lastReading: 0, lastAnnouncement: null, goodbyeAt: null }, 30_001, t), 'stale');
  assert.equal(deviceState({ lastReading: 0, lastAnnouncement: null, goodbyeAt: null }, 120_000, t), 'stale');
  assert.equal(deviceState({ lastReading: 0, lastAnnouncement: null, goodbyeAt: null }, 120_001, t), 'offline');
  assert.equal(deviceState({ lastReading: 0, lastAnnouncement: 0, goodbyeAt: 5 }, 6, t), 'offline', 'goodbye wins over a fresh reading');
  assert.equal(deviceState({ lastReading: 10, lastAnnouncement: 0, goodbyeAt: 5 }, 11, t), 'online', 'a reading after the goodbye brings it back');
  assert.equal(deviceState({ lastReading: null, lastAnnouncement: 10, goodbyeAt: 5 }, 11, t), 'discovered', 'so does a new announcement');
  // expected interval longer than stale_after: never stale before one reading is missed
  assert.equal(deviceState({ lastReading: 0, lastAnnouncement: null, goodbyeAt: null }, 50_000, { ...t, expectedMs: 60_000 }), 'online');
  assert.equal(nextTransitionAt({ lastReading: 0, lastAnnouncement: null, goodbyeAt: null }, 1, t), 30_001);
  assert.equal(nextTransitionAt({ lastReading: 0, lastAnnouncement: null, goodbyeAt: null }, 40_000, t), 120_001);
});

test('a device goes discovered → online → stale → offline, each change logged once and counted', async () => {
  const { inv, registry, lines, advance, now } = setup();
  await inv.start();
  inv.recordAnnouncement({ id: 'esp-1', group: 'g1', fw: '1.2.0', mac: 'aa:bb:cc:dd:ee:ff', addresses: ['10.0.0.5'], host: 'esp-1.local', port: 80, ttl: 120 });
  let d = inv.get('esp-1')!;
  assert.equal(d.state, 'discovered');
  assert.equal(d.firmware.version, '1.2.0');
  assert.equal(d.mac, 'aa:bb:cc:dd:ee:ff');
  assert.deepEqual(d.addresses, ['10.0.0.5']);
  assert.equal(d.last_reading, null);
  assert.equal(d.first_seen, new Date(T0).toISOString());

  advance(1000);
  inv.recordReadings([reading('esp-1', now(), { device_type: 'esp32-sht31' }), reading('esp-1', now())], '::ffff:10.0.0.6');
  d = inv.get('esp-1')!;
  assert.equal(d.state, 'online');
  assert.equal(d.device_type, 'esp32-sht31');
  assert.equal(d.readings_last_minute, 2);
  assert.deepEqual(d.addresses, ['10.0.0.6', '10.0.0.5']);
  assert.equal(d.last_reading, new Date(now()).toISOString());

  advance(30_000);
  assert.equal(inv.list()[0].state, 'online');
  advance(1);
  assert.equal(inv.list()[0].state, 'stale');
  assert.equal(inv.list()[0].readings_last_minute, 2);
  advance(30_000);
  assert.equal(inv.list()[0].readings_last_minute, 0);
  advance(90_000);
  assert.equal(inv.list()[0].state, 'offline');
  inv.list();

  const changes = lines.filter((l) => l.msg === 'device esp-1 is online' || l.msg === 'device esp-1 is stale' || l.msg === 'device esp-1 is offline');
  assert.deepEqual(changes.map((l) => l.to), ['online', 'stale', 'offline'], 'each change logged exactly once');
  assert.equal(await metric(registry, 'iotgw_device_state_changes_total', 'online'), 1);
  assert.equal(await metric(registry, 'iotgw_device_state_changes_total', 'stale'), 1);
  assert.equal(await metric(registry, 'iotgw_device_state_changes_total', 'offline'), 1);
  assert.equal(await metric(registry, 'iotgw_devices', 'offline'), 1);
  assert.equal(await metric(registry, 'iotgw_devices', 'online'), 0);
  await inv.stop();
});

test('a goodbye makes a device offline at once; a new reading brings it back', async () => {
  const { inv, registry, advance, now } = setup();
  await inv.start();
  inv.recordReadings([reading('esp-2', now())]);
  assert.equal(inv.get('esp-2')!.state, 'online');
  advance(100);
  inv.recordGoodbye('esp-2');
  assert.equal(inv.get('esp-2')!.state, 'offline');
  inv.recordGoodbye('unknown-device');
  assert.equal(inv.get('unknown-device'), undefined);
  advance(100);
  inv.recordReadings([reading('esp-2', now())]);
  assert.equal(inv.get('esp-2')!.state, 'online');
  assert.equal(await metric(registry, 'iotgw_device_state_changes_total', 'online'), 2);
  await inv.stop();
});

test('a device that only announces stays discovered, and goes offline when never heard of again', async () => {
  const { inv, advance } = setup();
  await inv.start();
  inv.recordAnnouncement({ id: 'esp-3', addresses: [] });
  advance(119_000);
  inv.recordAnnouncement({ id: 'esp-3', addresses: ['fe80::1'] });
  advance(119_000);
  assert.equal(inv.get('esp-3')!.state, 'discovered');
  advance(2000);
  assert.equal(inv.get('esp-3')!.state, 'offline');
  await inv.stop();
});

test('the inventory is bounded: past maxDevices the longest-silent device is forgotten', async () => {
  const { inv, advance, now } = setup(3);
  await inv.start();
  for (const id of ['a', 'b', 'c']) { inv.recordReadings([reading(id, now())]); advance(10); }
  inv.recordReadings([reading('a', now())]);
  inv.recordReadings([reading('d', now())]);
  assert.deepEqual(inv.list().map((d) => d.device_id), ['a', 'c', 'd']);
  await inv.stop();
});

test('MinuteCounter counts the last 60 seconds only', () => {
  const c = new MinuteCounter();
  c.add(T0, 3);
  c.add(T0 + 59_000);
  assert.equal(c.total(T0 + 59_000), 4);
  assert.equal(c.total(T0 + 60_000), 1);
  c.add(T0 + 120_000, 2);
  assert.equal(c.total(T0 + 120_500), 2);
});
