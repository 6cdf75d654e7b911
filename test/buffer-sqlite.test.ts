import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pino } from 'pino';
import Database from 'better-sqlite3';
import { SqliteStore } from '../gateway/buffer/sqlite-store.ts';
import { bodyLines, packBody } from '../gateway/buffer/sqlite-chunks.ts';
import { Buffer as ReadingBuffer } from '../gateway/buffer/buffer.ts';
import { createMetrics } from '../gateway/metrics.ts';
import { loadConfig } from '../gateway/config.ts';
import type { Reading } from '../gateway/reading.ts';
import { tempDir, waitFor } from './support/ports.ts';
import { readAll } from './support/read-window.ts';

const H = 3600_000;

/** Replaces a stored reading's line in its window's chunk with `raw` (a corrupted record). */
function corruptLine(db: Database.Database, window: number, id: string, raw: string): void {
  const t = `"w_${window}"`;
  for (const row of db.prepare(`SELECT seq, body FROM ${t}`).all() as { seq: number; body: Buffer }[]) {
    const lines = bodyLines(row.body);
    const i = lines.findIndex((l) => l.startsWith(`[${JSON.stringify(id)},`));
    if (i < 0) continue;
    lines[i] = raw;
    db.prepare(`UPDATE ${t} SET body = ? WHERE seq = ?`).run(packBody(lines), row.seq);
    return;
  }
  throw new Error(`${id} not found`);
}
const T0 = Date.UTC(2024, 0, 1, 10);
let n = 0;
/** A tiny local Reading factory (the lead's validator is written in parallel). */
function reading(device = 'dev-1', at = T0 + 1000, extra: Record<string, unknown> = {}, id?: string): Reading {
  const rid = id ?? `r-${++n}`;
  return { id: rid, device_id: device, group_id: 'g1', window: Math.floor(at / H) * H, received_at: at, doc: { device_id: device, group_id: 'g1', timestamp: new Date(at).toISOString(), status: 'online', n: rid, ...extra } };
}

describe('SqliteStore', () => {
  const tmp = tempDir('iotgw-sqlite-');
  const metrics = createMetrics({ defaultMetrics: false });
  const store = new SqliteStore({ path: join(tmp.path, 'sub', 'buffer.db'), groupCommitMs: 2, metrics });
  before(() => store.open());
  after(async () => { await store.close(); tmp.cleanup(); });

  test('append dedups by id, keeps the newest latest, lists windows with count and bytes', async () => {
    const a = reading('dev-a', T0 + 5000);
    const b = reading('dev-a', T0 + 1000); // older, arrives later: must not replace latest
    const c = reading('dev-b', T0 + H + 10);
    assert.equal(await store.append([a, b, c]), 3);
    assert.equal(await store.append([a, reading('dev-a', T0 + 6000, {}, b.id)]), 0);
    const latest = await store.latestPerDevice();
    assert.deepEqual(latest.map((d) => [d.device_id, d.n]), [['dev-a', a.id], ['dev-b', c.id]]);
    const windows = await store.listWindows();
    const w0 = windows.find((w) => w.window === T0)!;
    assert.equal(w0.count, 2);
    assert.equal(w0.bytes, Buffer.byteLength(JSON.stringify(a.doc)) + Buffer.byteLength(JSON.stringify(b.doc)));
    assert.equal(windows.find((w) => w.window === T0 + H)!.count, 1);
  });

  test('readWindow pages in order; deleteWindow up to a position spares later readings', async () => {
    const w = T0 + 5 * H;
    const batch = Array.from({ length: 7 }, (_, i) => reading(`dev-${i % 2}`, w + i));
    await store.append(batch);
    const got = await readAll(store, w, 3);
    assert.deepEqual(got.map((r) => r.id), batch.map((r) => r.id));
    assert.ok(got.every((r, i) => i === 0 || Number(r.pos) > Number(got[i - 1].pos)));
    const late = reading('dev-0', w + 100);
    await store.append([late]); // arrives while the "upload" is in flight
    assert.equal(await store.deleteWindow(w, got[got.length - 1].pos), 7);
    const rest = await readAll(store, w);
    assert.deepEqual(rest.map((r) => r.id), [late.id]);
    assert.equal((await store.listWindows()).find((x) => x.window === w)!.count, 1);
    assert.equal(await store.dropWindow(w), 1);
    assert.equal((await store.listWindows()).find((x) => x.window === w), undefined);
  });

  test('deleteWindow of a big window runs in steps and stops exactly at the position', async () => {
    const w = T0 + 6 * H;
    const rs = Array.from({ length: 4500 }, (_, i) => reading('big', w + i));
    await store.append(rs);
    const got = await readAll(store, w, 1000);
    assert.equal(await store.deleteWindow(w, got[4199].pos), 4200);
    assert.deepEqual((await readAll(store, w, 1000)).map((r) => r.id), rs.slice(4200).map((r) => r.id));
    assert.equal(await store.dropWindow(w), 300);
  });

  test('group commit: 100 concurrent appends share a handful of transactions', async () => {
    const before = store.commits;
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => store.append([reading('gc', T0 + 7 * H + i)])));
    assert.equal(results.reduce((s, x) => s + x, 0), 100);
    const used = store.commits - before;
    assert.ok(used >= 1 && used <= 3, `100 appends took ${used} transactions`);
  });

  test('group commit over time: readings arriving apart share a commit; a client that waits for each answer is not held', async () => {
    const tmp2 = tempDir('iotgw-sqlite-gc-time-');
    const timed = new SqliteStore({ path: join(tmp2.path, 'buffer.db'), groupCommitMs: 1000, groupCommitMax: 16 });
    await timed.open();
    try {
      const w = T0 + 30 * H;
      // Three appends a tick apart: one group, committed when the first has waited group_commit_ms.
      const spread = [timed.append([reading('t', w)])];
      await new Promise((r) => setImmediate(r));
      spread.push(timed.append([reading('t', w + 1)]));
      await new Promise((r) => setImmediate(r));
      spread.push(timed.append([reading('t', w + 2)]));
      assert.deepEqual(await Promise.all(spread), [1, 1, 1]);
      assert.equal(timed.commits, 1);
      assert.equal(timed.timedGroups, 1);
      // One writer, one append at a time: once its group was answered, each next append comes
      // right after its answer and commits at once instead of waiting the 1000 ms again (the
      // first follows a group of three, so it is not yet known as a closed loop).
      assert.equal(await timed.append([reading('seq', w + 10)]), 1);
      const before = timed.timedGroups;
      for (let i = 1; i < 30; i++) assert.equal(await timed.append([reading('seq', w + 10 + i)]), 1);
      assert.equal(timed.timedGroups, before, 'no later sequential append waited for the timer');
      // 40 concurrent appends: 16 fill a group at once.
      await Promise.all(Array.from({ length: 40 }, (_, i) => timed.append([reading('many', w + 100 + i)])));
      assert.equal(timed.timedGroups, before);
    } finally {
      await timed.close();
      tmp2.cleanup();
    }
  });

  test('a failed transaction rejects every caller of its batch and stores nothing of it', async () => {
    // A window's first chunk registers the window in the same transaction as the readings.
    const w = T0 + 8 * H;
    store.db.exec(`CREATE TRIGGER boom BEFORE INSERT ON windows WHEN new.window = ${w} BEGIN SELECT RAISE(ABORT, 'boom'); END`);
    const results = await Promise.allSettled([store.append([reading('ok', w)]), store.append([reading('boom', w)]), store.append([reading('ok', w + 1)])]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
    assert.equal((await store.listWindows()).find((x) => x.window === w), undefined);
    store.db.exec('DROP TRIGGER boom');
    assert.equal(await store.append([reading('ok', w)]), 1);
    // a doc that cannot be serialized fails only its own caller, before it joins a batch
    const bad = reading('ok', w + 2, { big: 1n });
    const mixed = await Promise.allSettled([store.append([bad]), store.append([reading('ok', w + 3)])]);
    assert.deepEqual(mixed.map((r) => r.status), ['rejected', 'fulfilled']);
  });

  test('an unreadable doc is quarantined, counted, and the readings behind it are still returned', async () => {
    const w = T0 + 9 * H;
    const rs = [reading('q', w), reading('q', w + 1), reading('q', w + 2)];
    await store.append(rs);
    corruptLine(store.db, w, rs[0].id, '{not json');
    corruptLine(store.db, w, rs[1].id, '[1,2]');
    const page = await store.readWindow(w, null, 2); // the first page is entirely corrupt: it must not come back empty
    assert.deepEqual(page.readings.map((r) => r.id), [rs[2].id]);
    assert.equal(page.next, null);
    const q = store.quarantined(2);
    assert.deepEqual(q.map((x) => [x.source, x.window, x.raw]), [['sqlite', w, '[1,2]'], ['sqlite', w, '{not json']]);
    assert.equal((await metrics.recordsQuarantined.get()).values.find((v) => v.labels.store === 'sqlite')?.value, 2);
    assert.equal((await store.listWindows()).find((x) => x.window === w)!.count, 1);
  });

  test('deviceReadings: newest first, filtered by time, limited', async () => {
    const w = T0 + 10 * H;
    await store.append([reading('dr', w + 1), reading('dr', w + 2), reading('dr', w + 3), reading('other', w + 4)]);
    const all = await store.deviceReadings('dr', { limit: 10 });
    assert.deepEqual(all.map((d) => d.timestamp), [w + 3, w + 2, w + 1].map((t) => new Date(t).toISOString()));
    assert.equal((await store.deviceReadings('dr', { from: w + 2, to: w + 2, limit: 10 })).length, 1);
    assert.equal((await store.deviceReadings('dr', { limit: 2 })).length, 2);
  });

  test('deviceReadings across windows: newest first, from/to/limit honoured', async () => {
    const w1 = T0 + 11 * H;
    const w2 = T0 + 12 * H;
    const older = [reading('two', w1 + 10), reading('two', w1 + 20), reading('two', w1 + 30)];
    const newer = [reading('two', w2 + 10), reading('two', w2 + 20)];
    // Other devices in between, so the scan has rows to skip.
    await store.append([...older, ...Array.from({ length: 50 }, (_, i) => reading('noise', w1 + 40 + i))]);
    await store.append([...newer, ...Array.from({ length: 50 }, (_, i) => reading('noise', w2 + 30 + i))]);
    const ts = (docs: { timestamp?: unknown }[]) => docs.map((d) => d.timestamp);
    const iso = (rs: Reading[]) => rs.map((r) => new Date(r.received_at).toISOString());
    assert.deepEqual(ts(await store.deviceReadings('two', { limit: 10 })), iso([...older, ...newer].reverse()));
    assert.deepEqual(ts(await store.deviceReadings('two', { limit: 3 })), iso([newer[1], newer[0], older[2]]));
    assert.deepEqual(ts(await store.deviceReadings('two', { from: w1 + 20, to: w2 + 10, limit: 10 })), iso([newer[0], older[2], older[1]]));
    assert.deepEqual(ts(await store.deviceReadings('two', { from: w1 + 20, to: w2 + 10, limit: 2 })), iso([newer[0], older[2]]));
    assert.deepEqual(ts(await store.deviceReadings('two', { to: w1 + 15, limit: 10 })), iso([older[0]]));
    assert.deepEqual(ts(await store.deviceReadings('two', { from: w2 + 15, limit: 10 })), iso([newer[1]]));
    assert.deepEqual(await store.deviceReadings('two', { from: w2 + 21, limit: 10 }), []);
  });

  test('deviceReadings in a window not in receive order (consolidated after a failover) misses nothing', async () => {
    const w = T0 + 13 * H;
    const M = 60_000;
    // SQLite took 10:30 during a failover; later Redis's copy of the hour (10:05, 10:45) was consolidated behind it.
    const failover = [reading('mix', w + 30 * M), reading('mix', w + 31 * M)];
    const fromRedis = [reading('mix', w + 5 * M), reading('mix', w + 45 * M)];
    await store.append(failover);
    store.writeNow([fromRedis]);
    const got = await store.deviceReadings('mix', { from: w + 20 * M, limit: 10 });
    assert.deepEqual(got.map((d) => d.n), [fromRedis[1].id, failover[1].id, failover[0].id]);
    assert.deepEqual((await store.deviceReadings('mix', { limit: 2 })).map((d) => d.n), [fromRedis[1].id, failover[1].id]);
  });

  test('migrate runs a migration once per file', async () => {
    let runs = 0;
    const m = (db: typeof store.db) => { runs++; db.exec('CREATE TABLE upload_manifest(k TEXT PRIMARY KEY)'); };
    store.migrate('manifest-v1', m);
    store.migrate('manifest-v1', m);
    assert.equal(runs, 1);
  });
});

describe('SqliteStore latest view, written at most once per interval', () => {
  test('the table is written once per interval, the view is never behind, close writes what waits', async () => {
    const tmp = tempDir('iotgw-sqlite-latest-');
    const path = join(tmp.path, 'buffer.db');
    const store = new SqliteStore({ path, latestEveryMs: 300 });
    const inTable = (device: string): unknown => {
      const row = store.db.prepare('SELECT doc FROM latest WHERE device_id = ?').get(device) as { doc: string } | undefined;
      return row && (JSON.parse(row.doc) as { n: string }).n;
    };
    const inView = async (s: SqliteStore, device: string) => (await s.latestPerDevice()).find((d) => d.device_id === device)?.n;
    try {
      await store.open();
      const a = reading('busy', T0 + 1);
      const b = reading('busy', T0 + 2);
      assert.equal(await store.append([a]), 1);
      assert.equal(inTable('busy'), undefined, 'not in the commit of the reading (one page less per commit)');
      assert.equal(await store.append([b]), 1);
      assert.equal(await inView(store, 'busy'), b.id, 'the view shows the waiting entry at once');
      assert.equal(await store.append([reading('other', T0 + 3)]), 1);
      await waitFor(() => inTable('other'), 10_000, 'the interval write');
      await waitFor(() => inTable('busy') === b.id, 10_000, 'the trailing latest write');
      const c = reading('busy', T0 + 4);
      const d = reading('busy', T0 + 5);
      await store.append([c]);
      await store.append([d]);
      assert.equal(await inView(store, 'busy'), d.id);
      assert.deepEqual((await readAll(store, T0)).filter((r) => r.device_id === 'busy').map((r) => r.id), [a.id, b.id, c.id, d.id], 'every reading is stored at once');
      await store.close();
      const again = new SqliteStore({ path, latestEveryMs: 300 });
      await again.open();
      assert.equal(await inView(again, 'busy'), d.id, 'close wrote the waiting entry');
      await again.close();
    } finally {
      await store.close();
      tmp.cleanup();
    }
  });
});

describe('SqliteStore durability', () => {
  test('every acknowledged append survives SIGKILL of the writer and a reopen', async () => {
    const tmp = tempDir('iotgw-sqlite-kill-');
    const path = join(tmp.path, 'buffer.db');
    const script = `
      import { SqliteStore } from ${JSON.stringify(new URL('../gateway/buffer/sqlite-store.ts', import.meta.url).href)};
      const s = new SqliteStore({ path: ${JSON.stringify(path)}, groupCommitMs: 2 });
      await s.open();
      for (let i = 0; ; i++) {
        const at = ${T0} + i;
        await Promise.all([0, 1, 2].map((k) => s.append([{ id: 'k' + i + '-' + k, device_id: 'd', group_id: 'g', window: ${T0}, received_at: at, doc: { device_id: 'd', group_id: 'g', timestamp: 't', status: 'online' } }])));
        process.stdout.write('acked ' + i + '\\n');
      }`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((resolve) => child.stdout!.on('data', (d) => {
      out += d;
      if ((out.match(/acked/g) ?? []).length >= 200) resolve();
    }));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const acked = (out.match(/acked (\d+)\n/g) ?? []).map((l) => Number(l.slice(6)));
    const store = new SqliteStore({ path });
    await store.open();
    const ids = new Set<string>();
    let after: string | null = null;
    do {
      const page = await store.readWindow(T0, after, 1000);
      for (const r of page.readings) ids.add(r.id);
      after = page.next;
    } while (after !== null);
    for (const i of acked) for (const k of [0, 1, 2]) assert.ok(ids.has(`k${i}-${k}`), `acked k${i}-${k} lost`);
    await store.close();
    tmp.cleanup();
  });
});

describe('Buffer with redis.url: none', () => {
  test('SQLite-only: appends, reports the store, lists windows, warns once', async () => {
    const tmp = tempDir('iotgw-buf-');
    const lines: { level: number; msg: string }[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
    const config = loadConfig({ env: {}, overrides: { data_dir: tmp.path } });
    assert.equal(config.redis.url, 'none');
    const buffer = new ReadingBuffer({ config, log, metrics: createMetrics({ defaultMetrics: false }) });
    await buffer.open();
    assert.equal(buffer.mode, 'sqlite');
    assert.equal(buffer.stores.redis, undefined);
    const r = reading('dev-x', T0);
    assert.deepEqual(await buffer.append([r, reading('dev-x', T0 + 1)]), { stored: 2, duplicates: 0, store: 'sqlite' });
    assert.deepEqual(await buffer.append([r]), { stored: 0, duplicates: 1, store: 'sqlite' });
    assert.deepEqual((await buffer.listWindows()).map((w) => [w.store, w.window, w.count]), [['sqlite', T0, 2]]);
    assert.equal((await buffer.latestPerDevice())[0].device_id, 'dev-x');
    assert.equal((await buffer.deviceReadings('dev-x', { limit: 5 })).length, 2);
    await buffer.ping();
    assert.ok(buffer.isClosed(T0, T0 + H) && !buffer.isClosed(T0, T0 + H - 1));
    assert.equal(lines.filter((l) => l.level === 40).length, 1);
    await buffer.close();
    tmp.cleanup();
  });
});
