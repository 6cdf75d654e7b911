import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../gateway/buffer/sqlite-store.ts';
import { tempDir } from './support/ports.ts';
import { readAll } from './support/read-window.ts';

const H = 3600_000;
const T0 = Date.UTC(2026, 11, 4, 8);
const FIXTURE = join(import.meta.dirname, 'fixtures', 'buffer-v1.db');

/** What the old file holds, read with plain SQL before anything migrates it. */
function oldContent(path: string): { byWindow: Map<number, { id: string; doc: unknown }[]>; upTo: string } {
  const db = new Database(path, { readonly: true });
  const byWindow = new Map<number, { id: string; doc: unknown }[]>();
  for (const r of db.prepare('SELECT id, window, doc FROM readings ORDER BY seq').all() as { id: string; window: number; doc: string }[]) {
    if (!byWindow.has(r.window)) byWindow.set(r.window, []);
    byWindow.get(r.window)!.push({ id: r.id, doc: JSON.parse(r.doc) });
  }
  const upTo = (db.prepare('SELECT up_to FROM upload_manifest WHERE window = ?').get(T0) as { up_to: string }).up_to;
  db.close();
  return { byWindow, upTo };
}

test('a buffer.db written before issue 18 is migrated on first open: every reading once, in order, the uploader\'s position kept', async () => {
  const tmp = tempDir('iotgw-migrate-');
  const path = join(tmp.path, 'buffer.db');
  copyFileSync(FIXTURE, path);
  const old = oldContent(path);
  assert.deepEqual([...old.byWindow.values()].map((rs) => rs.length), [39, 40, 40], 'the fixture is what make-buffer-v1.ts wrote');

  const store = new SqliteStore({ path, checkpointer: false });
  await store.open();
  assert.deepEqual((await store.listWindows()).map((w) => [w.window, w.count]), [[T0, 39], [T0 + H, 40], [T0 + 2 * H, 40]]);
  for (const [window, rs] of old.byWindow) {
    const got = await readAll(store, window, 7);
    assert.deepEqual(got.map((r) => r.id), rs.map((r) => r.id), `window ${window}: the same readings in the same order`);
    assert.deepEqual(got.map((r) => r.doc), rs.map((r) => r.doc));
  }
  const names = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
  assert.ok(!names.includes('readings') && !names.includes('window_stats'), 'the old tables are gone');

  // The manifest's position (the old seq of the window's 10th reading) now names the same reading.
  const upTo = (store.db.prepare('SELECT up_to FROM upload_manifest WHERE window = ?').get(T0) as { up_to: string }).up_to;
  assert.notEqual(upTo, old.upTo);
  assert.equal(await store.deleteWindow(T0, upTo), 10, 'the replayed delete removes the 10 uploaded readings');
  assert.deepEqual((await readAll(store, T0)).map((r) => r.id), old.byWindow.get(T0)!.slice(10).map((r) => r.id));

  // A board's retry of a migrated reading is a duplicate; a new reading lands after every old position.
  const dup = old.byWindow.get(T0 + H)![0];
  assert.ok(dup.id.startsWith('dev:'));
  const w2 = T0 + 2 * H;
  const retry = { id: dup.id, device_id: 'esp32-v1-0', group_id: 'site-1', window: T0 + H, received_at: T0 + H + 5, doc: dup.doc as never };
  assert.equal(await store.append([retry]), 0);
  const fresh = { id: 'dev:esp32-v1-0/boot-b/0', device_id: 'esp32-v1-0', group_id: 'site-1', window: w2, received_at: w2 + 50 * 60_000, doc: { device_id: 'esp32-v1-0', group_id: 'site-1' } as never };
  assert.equal(await store.append([fresh]), 1);
  const last = await readAll(store, w2);
  assert.equal(last.at(-1)!.id, fresh.id);
  assert.ok(Number(last.at(-1)!.pos) > Number(last.at(-2)!.pos));
  // Its 30 readings, less the deleted first one and the two among the 10 uploaded, plus the new one.
  assert.equal((await store.deviceReadings('esp32-v1-0', { limit: 100 })).length, 30 - 1 - 2 + 1);
  await store.close();

  // Opened again: nothing migrates twice, nothing is lost.
  await store.open();
  assert.deepEqual((await store.listWindows()).map((w) => [w.window, w.count]), [[T0, 29], [T0 + H, 40], [T0 + 2 * H, 41]]);
  assert.equal(await store.append([retry]), 0, 'the record of acknowledged ids is rebuilt at open');
  await store.close();
  tmp.cleanup();
});

test('a migration that fails leaves the old layout whole (one transaction)', async () => {
  const tmp = tempDir('iotgw-migrate-fail-');
  const path = join(tmp.path, 'buffer.db');
  copyFileSync(FIXTURE, path);
  // A table in the way of the first window's new table: the migration fails part-way.
  const db = new Database(path);
  db.exec(`CREATE VIEW "w_${T0 + H}" AS SELECT 1`);
  db.close();
  const store = new SqliteStore({ path, checkpointer: false });
  await assert.rejects(store.open());
  const after = new Database(path, { readonly: true });
  assert.equal((after.prepare('SELECT count(*) FROM readings').pluck().get() as number), 119);
  assert.equal((after.prepare("SELECT count(*) FROM sqlite_master WHERE name GLOB 'w_*' AND type = 'table'").pluck().get() as number), 0);
  after.close();
  tmp.cleanup();
});
