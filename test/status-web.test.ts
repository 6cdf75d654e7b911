import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ago, bytes, duration, firmware, numericMetrics, defaultMetric, rssi, until, uploadError } from '../gateway/status/web/format.ts';
import { PageModel, HIGHLIGHT_MS, type Device } from '../gateway/status/web/model.ts';

// The status page's script on its own (no browser): its words for times, sizes and firmware
// states, and the state it keeps from the event stream.

const NOW = Date.parse('2026-12-04T22:01:45.499Z');
const iso = (ms: number) => new Date(ms).toISOString();

test('times read as an installer says them, not as ISO strings', () => {
  assert.equal(ago(iso(NOW - 12_000), NOW), '12 s ago');
  assert.equal(ago(iso(NOW - 500), NOW), 'just now');
  assert.equal(ago(iso(NOW - 4 * 60_000), NOW), '4 min ago');
  assert.equal(ago(iso(NOW - 3 * 3600_000), NOW), '3 h ago');
  assert.equal(ago(iso(NOW - 2 * 86400_000), NOW), '2 d ago');
  assert.equal(ago(null, NOW), '—');
  assert.equal(ago('not a time', NOW), '—');
  assert.equal(until(iso(NOW + 125_000), NOW), 'in 2 min 5 s');
  assert.equal(until(iso(NOW - 1), NOW), 'now');
  assert.equal(duration(7500), '2 h 5 min');
  assert.equal(duration(200000), '2 d 7 h');
});

test('sizes, RSSI with a word, and numbers', () => {
  assert.equal(bytes(0), '0 B');
  assert.equal(bytes(1536), '1.5 KB');
  assert.equal(bytes(3.4 * 1024 * 1024), '3.4 MB');
  assert.equal(bytes(250 * 1024 * 1024), '250 MB');
  assert.equal(bytes(undefined), '—');
  assert.equal(rssi(-55), '-55 dBm (good)');
  assert.equal(rssi(-85), '-85 dBm (poor)');
  assert.equal(rssi(0), '—', 'the firmware sends 0 when Wi-Fi is not connected');
  assert.equal(rssi(undefined), '—');
});

test('firmware: the announced version string today, the update object once firmware updates land, "—" for what is missing', () => {
  assert.deepEqual(firmware('1.4.2'), { version: '1.4.2', update: '' });
  assert.deepEqual(firmware(null), { version: '—', update: '' });
  assert.deepEqual(firmware({ version: null, target: null, state: null, reason: null, at: null }), { version: '—', update: '' });
  assert.deepEqual(firmware({ version: '1.4.2', target: '1.5.0', state: 'downloading' }), { version: '1.4.2', update: 'downloading update → 1.5.0' });
  assert.deepEqual(firmware({ version: '1.4.2', target: '1.5.0', state: 'rolled_back', reason: 'boot loop' }), { version: '1.4.2', update: 'rolled back: boot loop' });
  assert.deepEqual(firmware({ version: '1.5.0', state: 'updated' }), { version: '1.5.0', update: 'updated' });
  assert.deepEqual(firmware({ version: '1.4.2', target: '1.5.0', state: 'downloading', progress: { bytes: 500_000, size: 1_000_000 } }), { version: '1.4.2', update: 'downloading update → 1.5.0 (50 %)' });
});

test('chartable metrics are the numbers of a reading, without the bookkeeping fields', () => {
  const m = numericMetrics({ device_id: 'd', group_id: 'g', seq: 4, ts: 1, boot_id: 'b', temperature: 21.5, wifi_rssi: -60, ok: true, name: 'x' });
  assert.deepEqual(m, ['temperature', 'wifi_rssi']);
  assert.equal(defaultMetric(m), 'temperature');
  assert.equal(defaultMetric(['heap_free', 'uptime_ms']), 'heap_free');
  assert.equal(defaultMetric([]), null);
});

test('the last upload error in plain words', () => {
  assert.equal(uploadError(null, NOW), 'none');
  assert.equal(uploadError({ kind: 'transient', reason: 'connect ECONNREFUSED 10.0.0.2:27017', at: iso(NOW - 30_000) }, NOW), 'Atlas could not be reached (30 s ago): connect ECONNREFUSED 10.0.0.2:27017');
  assert.match(uploadError({ kind: 'permanent', reason: 'not authorized', at: iso(NOW) }, NOW), /^Atlas refused the data/);
});

function device(id: string, over: Partial<Device> = {}): Device {
  return { device_id: id, group_id: 'lab', device_type: null, addresses: [], firmware: null, first_seen: iso(NOW - 3600_000), last_reading: iso(NOW - 1000), readings_last_minute: 1, state: 'online', ...over };
}

test('the model: a snapshot replaces, changes upsert and remove; a new or first-reporting board is highlighted for a while and listed first', () => {
  const m = new PageModel();
  m.applyDevices({ full: true, devices: [device('b'), device('a', { first_seen: iso(NOW - 5000) }), device('c', { last_reading: null, state: 'discovered', group_id: 'barn' })] }, NOW);
  assert.ok(m.isNew('a', NOW), 'first seen 5 s ago: new');
  assert.ok(!m.isNew('b', NOW));
  assert.deepEqual(m.visible({ group: '', search: '' }, NOW).map((d) => d.device_id), ['a', 'b', 'c']);

  m.applyDevices({ full: false, devices: [device('c', { group_id: 'barn' }), device('d')] }, NOW + 1000);
  assert.ok(m.isNew('c', NOW + 1000), 'its first reading: highlighted');
  assert.ok(m.isNew('d', NOW + 1000), 'appeared now: highlighted');
  assert.ok(!m.isNew('d', NOW + 1000 + HIGHLIGHT_MS), 'for a while only');
  assert.deepEqual(m.visible({ group: '', search: '' }, NOW + 1000).map((d) => d.device_id), ['a', 'c', 'd', 'b']);
  assert.deepEqual(m.visible({ group: 'barn', search: '' }, NOW).map((d) => d.device_id), ['c']);
  assert.deepEqual(m.visible({ group: '', search: ' B ' }, NOW).map((d) => d.device_id), ['b']);
  assert.deepEqual(m.groups(), ['barn', 'lab']);

  m.applyReadings([{ device_id: 'b', timestamp: iso(NOW), wifi_rssi: -50 }]);
  m.applyReadings([{ device_id: 'b', timestamp: iso(NOW - 5000), wifi_rssi: -90 }]);
  assert.equal(m.latest.get('b')?.wifi_rssi, -50, 'an older reading does not replace a newer one');
  m.applyDevices({ full: false, devices: [], removed: ['b'] }, NOW);
  assert.equal(m.devices.has('b'), false);
  assert.equal(m.latest.has('b'), false);
  assert.deepEqual(m.stateCounts(), { discovered: 0, online: 3, stale: 0, offline: 0 });
});
