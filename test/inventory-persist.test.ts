import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../gateway/config.ts';
import { Inventory } from '../gateway/inventory/inventory.ts';
import { tempDir } from './support/ports.ts';

const dir = tempDir('iotgw-inventory-');
after(() => dir.cleanup());
const config = loadConfig({ env: {}, overrides: { 'discovery.expected_interval_seconds': 10, 'discovery.stale_after_seconds': 30, 'discovery.offline_after_seconds': 120 } });
const T0 = Date.parse('2026-01-01T00:00:00Z');

function make(dbPath: string, clock: () => number, lines: Record<string, unknown>[] = []) {
  const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
  return new Inventory({ config, log, metrics: { registry: new Registry() }, dbPath, clock, tickMs: 0, persistIntervalMs: 0 });
}

test('the inventory survives a restart through its own table in the shared SQLite file', async () => {
  const dbPath = join(dir.path, 'buffer.db');
  // another component's table in the same file, written through another connection
  const other = new Database(dbPath);
  other.pragma('journal_mode = WAL');
  other.exec('CREATE TABLE readings (id TEXT PRIMARY KEY)');
  other.prepare('INSERT INTO readings VALUES (?)').run('r1');

  let now = T0;
  const a = make(dbPath, () => now);
  await a.start();
  a.recordAnnouncement({ id: 'esp-1', group: 'g1', fw: '2.0.1', mac: '24:6f:28:00:00:01', addresses: ['10.1.0.7'], host: 'esp-1.local', port: 80, ttl: 120 });
  a.recordReadings([{ id: 'x', device_id: 'esp-1', group_id: 'g1', window: 0, received_at: now, doc: { device_id: 'esp-1', group_id: 'g1', device_type: 'sht31', timestamp: new Date(now).toISOString(), status: 'online' } }]);
  a.recordAnnouncement({ id: 'esp-2', addresses: [] });
  await a.stop();
  other.prepare('INSERT INTO readings VALUES (?)').run('r2');

  // restart 60 s later: esp-1 went stale while the gateway was down, esp-2 is still discovered
  now = T0 + 60_000;
  const lines: Record<string, unknown>[] = [];
  const b = make(dbPath, () => now, lines);
  await b.start();
  const list = b.list();
  assert.deepEqual(list.map((d) => [d.device_id, d.state]), [['esp-1', 'stale'], ['esp-2', 'discovered']]);
  const d = b.get('esp-1')!;
  assert.equal(d.firmware.version, '2.0.1');
  assert.equal(d.group_id, 'g1');
  assert.equal(d.device_type, 'sht31');
  assert.deepEqual(d.addresses, ['10.1.0.7']);
  assert.equal(d.first_seen, new Date(T0).toISOString());
  assert.equal(d.last_reading, new Date(T0).toISOString());
  assert.deepEqual(lines.filter((l) => typeof l.to === 'string').map((l) => [l.device_id, l.from, l.to]), [['esp-1', 'online', 'stale']], 'the change during downtime is logged once, after the restart');
  await b.stop();

  assert.deepEqual((other.prepare('SELECT id FROM readings ORDER BY id').all() as { id: string }[]).map((r) => r.id), ['r1', 'r2'], 'the other table is untouched');
  other.close();
});

test('an unusable database path degrades to an in-memory inventory with a warning', async () => {
  const lines: Record<string, unknown>[] = [];
  const notADir = join(dir.path, 'not-a-dir');
  writeFileSync(notADir, 'x');
  const inv = make(join(notADir, 'buffer.db'), () => T0, lines);
  await inv.start();
  inv.recordAnnouncement({ id: 'esp-9', addresses: [] });
  assert.equal(inv.get('esp-9')!.state, 'discovered');
  await inv.stop();
  assert.equal(lines.filter((l) => l.level === 40).length, 1);
});

test('a device\'s firmware update state survives a restart, and a table from before firmware updates gets its column', async () => {
  const dbPath = join(dir.path, 'fw.db');
  // A devices table as the gateway wrote it before firmware updates: no fw_event column.
  const old = new Database(dbPath);
  old.exec(`CREATE TABLE devices (device_id TEXT PRIMARY KEY, group_id TEXT, device_type TEXT, addresses TEXT NOT NULL DEFAULT '[]',
    firmware TEXT, mac TEXT, host TEXT, port INTEGER, first_seen INTEGER NOT NULL, last_announcement INTEGER, last_reading INTEGER,
    goodbye_at INTEGER, state TEXT NOT NULL, updated_at INTEGER NOT NULL)`);
  old.prepare(`INSERT INTO devices VALUES ('esp-old', 'A', null, '[]', '0.1.0', null, null, null, ?, null, ?, null, 'online', ?)`).run(T0, T0, T0);
  old.close();
  const now = T0;
  const a = make(dbPath, () => now);
  a.useFirmwareTargets((g) => (g === 'A' ? '0.2.0' : null));
  await a.start();
  assert.deepEqual(a.get('esp-old')?.firmware, { version: '0.1.0', target: '0.2.0', state: 'pending', reason: null, at: null });
  const doc = { device_id: 'esp-9', group_id: 'A', timestamp: '', status: 'online' as const, fw: '0.1.0', fw_update: { state: 'failed', version: '0.2.0', reason: 'size mismatch' } };
  a.recordReadings([{ id: 'y', device_id: 'esp-9', group_id: 'A', window: 0, received_at: now, doc }]);
  a.recordDownload('esp-old', '0.2.0', 1000, 4000);
  await a.stop();
  const b = make(dbPath, () => now);
  b.useFirmwareTargets((g) => (g === 'A' ? '0.2.0' : null));
  await b.start();
  assert.deepEqual(b.get('esp-9')?.firmware, { version: '0.1.0', target: '0.2.0', state: 'failed', reason: 'size mismatch', at: new Date(now).toISOString() });
  assert.deepEqual(b.get('esp-old')?.firmware, { version: '0.1.0', target: '0.2.0', state: 'downloading', reason: null, at: new Date(now).toISOString(), progress: { bytes: 1000, size: 4000 } });
  await b.stop();
});
