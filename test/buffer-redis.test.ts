import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisStore, TimeoutError, withTimeout } from '../gateway/buffer/redis-store.ts';
import { SqliteStore } from '../gateway/buffer/sqlite-store.ts';
import { comparePos } from '../gateway/buffer/records.ts';
import { createMetrics } from '../gateway/metrics.ts';
import type { Reading } from '../gateway/reading.ts';
import { TestRedis } from './support/redis.ts';
import { tempDir, waitFor } from './support/ports.ts';
import { readAll } from './support/read-window.ts';
import { redisWindowCount } from './support/buffer-inspect.ts';

const H = 3600_000;
const T0 = Date.UTC(2024, 0, 1, 10);
let n = 0;
function reading(device = 'dev-1', at = T0 + 1000, id?: string): Reading {
  const rid = id ?? `r-${++n}`;
  return { id: rid, device_id: device, group_id: 'g1', window: Math.floor(at / H) * H, received_at: at, doc: { device_id: device, group_id: 'g1', timestamp: new Date(at).toISOString(), status: 'online', n: rid } };
}

describe('RedisStore', () => {
  const redis = new TestRedis({ appendonly: true });
  const tmp = tempDir('iotgw-redis-store-');
  const metrics = createMetrics({ defaultMetrics: false });
  const sqlite = new SqliteStore({ path: join(tmp.path, 'buffer.db'), metrics });
  let store: RedisStore;
  let raw: Redis;
  before(async () => {
    await redis.start();
    await sqlite.open();
    // latest rewritten with every reading: these tests check which reading it keeps
    store = new RedisStore({ url: redis.url, sink: sqlite, metrics, writeTimeoutMs: 2000, latestEveryMs: 0 });
    await store.open();
    raw = new Redis(redis.url);
  });
  after(async () => {
    raw.disconnect();
    await store.close();
    await sqlite.close();
    await redis.destroy();
    tmp.cleanup();
  });

  test('append dedups by id within a window, keeps the newest latest, lists windows', async () => {
    const a = reading('dev-a', T0 + 5000);
    const b = reading('dev-a', T0 + 1000);
    const c = reading('dev-b', T0 + H + 1);
    assert.equal(await store.append([a, b, c]), 3);
    assert.equal(await store.append([a, b]), 0);
    assert.equal(await store.append([reading('dev-a', T0 + 2000, a.id)]), 0);
    const latest = await store.latestPerDevice();
    assert.deepEqual(latest.map((d) => [d.device_id, d.n]).sort(), [['dev-a', a.id], ['dev-b', c.id]]);
    const windows = await store.listWindows();
    assert.deepEqual(windows.map((w) => [w.window, w.count]), [[T0, 2], [T0 + H, 1]]);
    assert.ok(windows[0].bytes > JSON.stringify(a.doc).length * 2);
  });

  test('positions compare as ms-seq; appendonly is reported', async () => {
    assert.equal(comparePos('redis', '1700000000000-10', '1700000000000-9'), 1);
    assert.equal(comparePos('redis', '999-0', '1000-0'), -1);
    assert.equal(comparePos('sqlite', '10', '9'), 1);
    assert.equal(await store.appendonly(), true);
  });

  test('key layout under the prefix', async () => {
    const keys = (await raw.keys('iotgw:*')).sort();
    for (const k of [`iotgw:l:${T0}`, `iotgw:ids:${T0}`, 'iotgw:windows', 'iotgw:latest', 'iotgw:latest_at', 'iotgw:wbytes', 'iotgw:wgen', 'iotgw:gen']) assert.ok(keys.includes(k), `${k} missing from ${keys}`);
    assert.equal(await raw.type(`iotgw:l:${T0}`), 'list');
    // one chunk per window per call: the first call's two readings share one element, and the
    // resends of later calls added none
    assert.deepEqual((await raw.lrange(`iotgw:l:${T0}`, 0, -1)).map((e) => e.split('\n').length), [3]);
    assert.deepEqual(await raw.zrange(`iotgw:x:${T0}`, 0, -1), ['0:1']);
    assert.equal(await raw.hget('iotgw:wextra', String(T0)), '1');
    assert.equal(await raw.scard(`iotgw:ids:${T0}`), 2);
    // a listpack would make every latest_at lookup of the append script a linear scan
    assert.equal(await raw.object('ENCODING', 'iotgw:latest_at'), 'hashtable');
  });

  test('dedup within one call, across callers of one tick, and across calls; per window', async () => {
    const w = T0 + 40 * H;
    const a = reading('dd', w + 1);
    const b = reading('dd', w + 2);
    assert.equal(await store.append([a, { ...a }, b, a]), 2);
    // three callers in the same tick share one script call: the first holder of an id wins
    const [x, y, z] = await Promise.all([store.append([reading('dd', w + 3, 'same')]), store.append([reading('dd', w + 4, 'same')]), store.append([b])]);
    assert.deepEqual([x, y, z], [1, 0, 0]);
    assert.equal(await store.append([a, b]), 0);
    // the same id in another window is another reading
    assert.equal(await store.append([reading('dd', w + H + 1, a.id)]), 1);
    assert.deepEqual((await readAll(store, w)).map((r) => r.id), [a.id, b.id, 'same']);
    assert.equal((await readAll(store, w)).find((r) => r.id === 'same')!.received_at, w + 3);
    assert.equal(await redisWindowCount(raw, w), 3);
    // latest: newest receive time of the device wins, whatever the order inside a call
    assert.equal((await store.latestPerDevice()).find((d) => d.device_id === 'dd')!.n, a.id);
    await store.dropWindow(w);
    await store.dropWindow(w + H);
  });

  test('positions are unique across windows and over a window\'s re-creation; a stale delete position deletes nothing', async () => {
    const w = T0 + 41 * H;
    await store.append([reading('u', w), reading('u', w + H)]);
    const [p1] = await readAll(store, w);
    const [p2] = await readAll(store, w + H);
    assert.notEqual(p1.pos, p2.pos);
    assert.equal(await store.deleteWindow(w, p1.pos), 1);
    assert.equal(await raw.exists(`iotgw:l:${w}`), 0);
    const late = reading('u', w + 5);
    await store.append([late]);
    const [p3] = await readAll(store, w);
    assert.equal(p3.id, late.id);
    assert.notEqual(p3.pos, p1.pos);
    assert.equal(comparePos('redis', p3.pos, p1.pos), 1);
    // an upload manifest replaying its delete after the window was emptied and filled again
    assert.equal(await store.deleteWindow(w, p1.pos), 0);
    assert.deepEqual((await readAll(store, w)).map((r) => r.id), [late.id]);
    await assert.rejects(store.deleteWindow(w, 'x'), /bad redis position/);
    await store.dropWindow(w);
    await store.dropWindow(w + H);
  });

  test('readWindow pages in stream order; deleteWindow up to a position spares later readings', async () => {
    const w = T0 + 5 * H;
    const batch = Array.from({ length: 7 }, (_, i) => reading(`dev-${i % 2}`, w + i));
    await store.append(batch.slice(0, 4));
    await store.append(batch.slice(4));
    const got = await readAll(store, w, 3);
    assert.deepEqual(got.map((r) => r.id), batch.map((r) => r.id));
    assert.deepEqual(got[0], { ...batch[0], pos: got[0].pos });
    const late = reading('dev-0', w + 100);
    await store.append([late]);
    assert.equal(await store.deleteWindow(w, got[got.length - 1].pos), 7);
    assert.deepEqual((await readAll(store, w)).map((r) => r.id), [late.id]);
    // a retry of an already deleted (uploaded) reading is still recognised while the window lives
    assert.equal(await store.append([batch[0]]), 0);
    const last = (await readAll(store, w)).at(-1)!;
    assert.equal(await store.deleteWindow(w, last.pos), 1);
    assert.equal(await raw.exists(`iotgw:l:${w}`, `iotgw:ids:${w}`, `iotgw:tomb:${w}`), 0);
    assert.equal(await raw.zscore('iotgw:windows', String(w)), null);
    for (const h of ['wbytes', 'wtrim', 'wgen', 'wextra']) assert.equal(await raw.hexists(`iotgw:${h}`, String(w)), 0, h);
  });

  test('corrupt list elements are quarantined in SQLite, blanked, counted, and never stall the page', async () => {
    const w = T0 + 6 * H;
    const first = reading('c', w);
    await store.append([first]);
    await redis.command('RPUSH', `iotgw:l:${w}`, '{garbage');
    await redis.command('RPUSH', `iotgw:l:${w}`, '["other","x"]');
    await redis.command('RPUSH', `iotgw:l:${w}`, JSON.stringify({ id: 'no-doc', device_id: 'c', group_id: 'g1', received_at: 1 }));
    const next = reading('c', w + 1);
    await store.append([next]);
    const page1 = await store.readWindow(w, null, 2);
    assert.deepEqual(page1.readings.map((r) => r.id), [first.id]);
    const rest = await readAll(store, w, 2);
    assert.deepEqual(rest.map((r) => r.id), [first.id, next.id]);
    const q = sqlite.quarantined(10).filter((x) => x.source === 'redis');
    assert.equal(q.length, 3);
    assert.ok(q.some((x) => x.raw === '{garbage'));
    // blanked in place (positions of later readings do not move) and left out of the counts
    assert.deepEqual(await raw.lrange(`iotgw:l:${w}`, 0, -1), [(await raw.lindex(`iotgw:l:${w}`, 0))!, '', '', '', (await raw.lindex(`iotgw:l:${w}`, 4))!]);
    assert.equal(await redisWindowCount(raw, w), 2);
    assert.equal((await store.listWindows()).find((x) => x.window === w)!.count, 2);
    assert.deepEqual((await readAll(store, w, 2)).map((r) => r.id), [first.id, next.id]);
    assert.equal(sqlite.quarantined(10).filter((x) => x.source === 'redis').length, 3, 'quarantined once');
    assert.equal((await metrics.recordsQuarantined.get()).values.find((v) => v.labels.store === 'redis')?.value, 3);
  });

  test('a window left with only corrupt elements disappears once read', async () => {
    const w = T0 + 7 * H;
    await redis.command('RPUSH', `iotgw:l:${w}`, 'nope');
    await redis.command('ZADD', 'iotgw:windows', String(w), String(w));
    const page = await store.readWindow(w, null, 10);
    assert.deepEqual(page, { readings: [], next: null });
    assert.equal((await store.listWindows()).find((x) => x.window === w), undefined);
    assert.equal(await raw.exists(`iotgw:l:${w}`, `iotgw:tomb:${w}`), 0);
  });

  test('counts stay exact through quarantine and partial deletes', async () => {
    const w = T0 + 9 * H;
    const rs = Array.from({ length: 10 }, (_, i) => reading('ex', w + i));
    await store.append(rs.slice(0, 4));
    await redis.command('RPUSH', `iotgw:l:${w}`, 'bad-1');
    await store.append(rs.slice(4, 7));
    await redis.command('RPUSH', `iotgw:l:${w}`, 'bad-2');
    await store.append(rs.slice(7));
    const got = await readAll(store, w, 4);
    assert.deepEqual(got.map((r) => r.id), rs.map((r) => r.id));
    const bytes0 = (await store.listWindows()).find((x) => x.window === w)!.bytes;
    assert.deepEqual((await store.listWindows()).filter((x) => x.window === w).map((x) => x.count), [10]);
    // up to the 3rd reading: before the first tombstone
    assert.equal(await store.deleteWindow(w, got[2].pos), 3);
    assert.equal((await store.listWindows()).find((x) => x.window === w)!.count, 7);
    // up to the 6th reading: across the first tombstone, which is not a reading
    assert.equal(await store.deleteWindow(w, got[5].pos), 3);
    const left = (await store.listWindows()).find((x) => x.window === w)!;
    assert.equal(left.count, 4);
    assert.equal(left.bytes, Math.floor(Math.floor(bytes0 * 7 / 10) * 4 / 7));
    assert.equal(await raw.zcard(`iotgw:tomb:${w}`), 1);
    // a repeated delete (a replayed upload commit) finds nothing more to delete
    assert.equal(await store.deleteWindow(w, got[5].pos), 0);
    assert.deepEqual((await readAll(store, w, 2)).map((r) => r.id), rs.slice(6).map((r) => r.id));
    assert.equal(await store.deleteWindow(w, got[9].pos), 4);
    assert.equal(await raw.exists(`iotgw:l:${w}`, `iotgw:tomb:${w}`, `iotgw:ids:${w}`), 0);
    assert.equal((await store.listWindows()).find((x) => x.window === w), undefined);
  });

  test('one chunk per window per call; positions per line; a page resumes inside a chunk; a bad line is quarantined alone', async () => {
    const w = T0 + 50 * H;
    const minted = Array.from({ length: 5 }, (_, i) => reading('ck', w + i, `rcv:0f1e/${i}`));
    const other = reading('ck', w + H, 'rcv:0f1e/5');
    assert.equal(await store.append([...minted, other]), 6);
    assert.equal(await raw.llen(`iotgw:l:${w}`), 1);
    assert.equal(await raw.llen(`iotgw:l:${w + H}`), 1);
    // ids minted per receipt cannot repeat, so they are not kept for dedup
    assert.equal(await raw.exists(`iotgw:ids:${w}`), 0);
    const got = await readAll(store, w, 2);
    assert.deepEqual(got.map((r) => r.id), minted.map((r) => r.id));
    const gen = got[0].pos.split('-')[0];
    assert.deepEqual(got.map((r) => r.pos), [0, 1, 2, 3, 4].map((k) => `${gen}-0-${k}`));
    for (let k = 1; k < got.length; k++) assert.equal(comparePos('redis', got[k - 1].pos, got[k].pos), -1);
    assert.equal(comparePos('redis', `${gen}-0`, got[4].pos), 1, 'an element position stands for all its lines');
    // a caller that pages from a reading's position gets the lines after it
    const resumed = await store.readWindow(w, got[1].pos, 10);
    assert.deepEqual(resumed.readings.map((r) => r.id), minted.slice(2).map((r) => r.id));
    assert.equal(resumed.next, null);
    // minted ids are marked dead unchecked (Redis keeps no set to check them against)
    assert.equal(await store.markDead(w, [minted[3].id]), 1);
    // one line of the chunk damaged: only that reading goes to quarantine
    const [chunk] = await raw.lrange(`iotgw:l:${w}`, 0, 0);
    const lines = chunk.split('\n');
    lines[3] = '{broken';
    await raw.lset(`iotgw:l:${w}`, 0, lines.join('\n'));
    const before = sqlite.quarantined(100).filter((x) => x.source === 'redis').length;
    assert.deepEqual((await readAll(store, w, 2)).map((r) => r.id), [minted[0], minted[1], minted[4]].map((r) => r.id));
    const q = sqlite.quarantined(100).filter((x) => x.source === 'redis');
    assert.equal(q.length, before + 1);
    assert.ok(q.some((x) => x.raw === '{broken' && x.pos === `${gen}-0-2`));
    assert.equal((await store.listWindows()).find((x) => x.window === w)!.count, 4);
    assert.equal(await redisWindowCount(raw, w), 4);
    // a delete up to a line blanks the chunk's lines up to it and keeps the rest
    assert.equal(await store.deleteWindow(w, got[1].pos), 2);
    assert.equal((await store.listWindows()).find((x) => x.window === w)!.count, 2);
    assert.deepEqual((await readAll(store, w)).map((r) => r.id), [minted[4].id]);
    assert.equal(await store.dropWindow(w), 2, 'the dead reading is still held until the window goes');
    assert.equal(await raw.exists(`iotgw:l:${w}`, `iotgw:x:${w}`, `iotgw:dead:${w}`), 0);
    assert.equal(await store.dropWindow(w + H), 1);
  });

  test('a resend blanked out of a chunk leaves the other readings of the call and the counts right', async () => {
    const w = T0 + 52 * H;
    const a = reading('rs', w + 1);
    const b = reading('rs', w + 2);
    const c = reading('rs', w + 3);
    assert.equal(await store.append([a]), 1);
    assert.equal(await store.append([b, a, c]), 2);
    const els = await raw.lrange(`iotgw:l:${w}`, 0, -1);
    assert.equal(els.length, 2);
    assert.equal(els[1].split('\n')[2], '', 'the resend is a blank line');
    assert.deepEqual((await readAll(store, w)).map((r) => r.id), [a.id, b.id, c.id]);
    assert.equal((await store.listWindows()).find((x) => x.window === w)!.count, 3);
    assert.equal(await store.dropWindow(w), 3);
  });

  test('dead elements are skipped by reads; markDead only names ids the window holds', async () => {
    const w = T0 + 10 * H;
    const rs = [reading('dz', w), reading('dz', w + 1), reading('dz', w + 2)];
    await store.append(rs);
    assert.equal(await store.markDead(w, [rs[1].id, 'never-stored']), 1);
    assert.equal(await store.markDead(w, [rs[1].id]), 0);
    assert.deepEqual((await readAll(store, w, 1)).map((r) => r.id), [rs[0].id, rs[2].id]);
    assert.deepEqual(await raw.smembers(`iotgw:dead:${w}`), [rs[1].id]);
    assert.equal(await store.dropWindow(w), 3);
    assert.equal(await raw.exists(`iotgw:dead:${w}`), 0);
  });

  test('deviceReadings newest first across windows, limited and filtered', async () => {
    const w = T0 + 8 * H;
    await store.append([reading('dr', w + 1), reading('dr', w + H + 2), reading('x', w + 3), reading('dr', w + 2 * H + 3)]);
    const all = await store.deviceReadings('dr', { limit: 10 });
    assert.deepEqual(all.map((d) => d.timestamp), [w + 2 * H + 3, w + H + 2, w + 1].map((t) => new Date(t).toISOString()));
    assert.equal((await store.deviceReadings('dr', { limit: 2 })).length, 2);
  });

  test('deleting a big window runs in bounded steps and deletes exactly up to the position', async () => {
    const w = T0 + 30 * H;
    const rs = Array.from({ length: 25_000 }, (_, i) => reading(`big${i % 3}`, w + i));
    for (let i = 0; i < rs.length; i += 1000) await store.append(rs.slice(i, i + 1000));
    const got = await readAll(store, w, 5000);
    const ltrims = async () => Number(/cmdstat_ltrim:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1] ?? 0);
    const before = await ltrims();
    assert.equal(await store.deleteWindow(w, got[19_999].pos), 20_000);
    assert.equal(await ltrims() - before, 2, 'two steps of at most 10,000 readings');
    const rest = await store.readWindow(w, null, 1);
    assert.equal(rest.readings[0].id, rs[20_000].id);
    assert.equal((await store.listWindows()).find((x) => x.window === w)!.count, 5000);
    assert.equal(await store.dropWindow(w), 5000);
  });

  test('dropWindow removes a whole window and returns its size', async () => {
    const w = T0 + 20 * H;
    await store.append([reading('d', w), reading('d', w + 1), reading('d', w + 2)]);
    assert.equal(await store.dropWindow(w), 3);
    assert.equal(await raw.exists(`iotgw:l:${w}`, `iotgw:ids:${w}`), 0);
  });
});

describe('withTimeout', () => {
  test('an answer that arrived while the event loop was busy wins over the timer that fell due meanwhile', async () => {
    const redis = new TestRedis();
    await redis.start();
    const raw = new Redis(redis.url);
    try {
      await raw.ping();
      const answer = withTimeout(raw.ping(), 50, 'redis ping');
      // The loop is blocked past the timeout while Redis answers; both are due when it runs again.
      const until = Date.now() + 1000;
      while (Date.now() < until) { /* busy, as a loaded gateway's loop is */ }
      assert.equal(await answer, 'PONG');
      // and a real silence still times out
      await assert.rejects(withTimeout(new Promise(() => undefined), 20, 'nothing'), TimeoutError);
    } finally {
      raw.disconnect();
      await redis.destroy();
    }
  });
});

describe('RedisStore latest view, rewritten at most once per interval', () => {
  test('a quiet device at once, a busy one by a trailing write of its newest reading, what waits on close', async () => {
    const redis = new TestRedis();
    await redis.start();
    const w = T0 + 60 * H;
    const store = new RedisStore({ url: redis.url, writeTimeoutMs: 2000, latestEveryMs: 300 });
    const latestOf = async (s: RedisStore, device: string) => (await s.latestPerDevice()).find((d) => d.device_id === device)?.n;
    const raw = new Redis(redis.url);
    const inRedis = async (device: string) => {
      const json = await raw.hget('iotgw:latest', device);
      return json === null ? undefined : (JSON.parse(json) as Reading).doc.n;
    };
    try {
      await store.open();
      const a = reading('busy', w + 1);
      const b = reading('busy', w + 2);
      assert.equal(await store.append([a]), 1);
      assert.equal(await inRedis('busy'), a.id, 'the first reading of a quiet device is written at once');
      assert.equal(await store.append([b]), 1);
      assert.equal(await inRedis('busy'), a.id, 'the second one within the interval waits');
      assert.equal(await latestOf(store, 'busy'), b.id, 'the view shows the waiting entry at once');
      assert.equal(await store.append([reading('other', w + 3)]), 1);
      assert.ok(await inRedis('other'), 'other devices are not held back');
      // no further reading of the device comes: the trailing write brings the newest one
      await waitFor(async () => (await inRedis('busy')) === b.id, 10_000, 'the trailing latest write');
      const c = reading('busy', w + 4);
      const d = reading('busy', w + 5);
      await store.append([c]);
      await store.append([d]);
      assert.deepEqual((await readAll(store, w)).map((r) => r.id).filter((id) => [a.id, b.id, c.id, d.id].includes(id)), [a.id, b.id, c.id, d.id], 'every reading is stored at once');
    } finally {
      await store.close();
      raw.disconnect();
    }
    const again = new RedisStore({ url: redis.url, writeTimeoutMs: 2000 });
    try {
      await again.open();
      assert.equal((await again.latestPerDevice()).find((x) => x.device_id === 'busy')!.n, (await readAll(again, w)).filter((r) => r.device_id === 'busy').at(-1)!.id, 'close wrote the waiting view');
    } finally {
      await again.close();
      await redis.destroy();
    }
  });
});

describe('RedisStore legacy stream layout', () => {
  test('windows left in streams by an earlier version are moved to lists at open, in order', async () => {
    const redis = new TestRedis({ appendonly: true });
    await redis.start();
    const raw = new Redis(redis.url);
    const w1 = T0;
    const w2 = T0 + H;
    const old1 = Array.from({ length: 2500 }, (_, i) => reading(`lg${i % 4}`, w1 + i));
    const old2 = [reading('lg0', w2), reading('lg0', w2 + 1)];
    for (const [w, rs] of [[w1, old1], [w2, old2]] as const) {
      for (let i = 0; i < rs.length; i += 500) {
        const pipe = raw.pipeline();
        for (const r of rs.slice(i, i + 500)) {
          pipe.xadd(`iotgw:w:${w}`, '*', 'r', JSON.stringify({ id: r.id, device_id: r.device_id, group_id: r.group_id, window: r.window, received_at: r.received_at, doc: r.doc }));
        }
        await pipe.exec();
      }
      await raw.sadd(`iotgw:ids:${w}`, ...rs.map((r) => r.id));
      await raw.zadd('iotgw:windows', w, String(w));
      await raw.hset('iotgw:wbytes', String(w), String(rs.length * 300));
    }
    await raw.xadd(`iotgw:w:${w2}`, '*', 'other', 'x'); // an entry the old store could not read either
    const lines: { msg: string; readings?: number }[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
    const tmp = tempDir('iotgw-redis-legacy-');
    const metrics = createMetrics({ defaultMetrics: false });
    const sqlite = new SqliteStore({ path: join(tmp.path, 'buffer.db'), metrics });
    await sqlite.open();
    const store = new RedisStore({ url: redis.url, sink: sqlite, metrics, log, writeTimeoutMs: 2000 });
    try {
      await store.open();
      assert.equal(await raw.exists(`iotgw:w:${w1}`, `iotgw:w:${w2}`), 0);
      const moved = lines.filter((l) => l.msg.includes('old Redis stream layout'));
      assert.equal(moved.length, 1);
      assert.equal(moved[0].readings, 2503);
      assert.deepEqual((await store.listWindows()).map((x) => [x.window, x.count, x.bytes]), [[w1, 2500, 2500 * 300], [w2, 3, 2 * 300]]);
      assert.deepEqual((await readAll(store, w1, 700)).map((r) => r.id), old1.map((r) => r.id));
      const got2 = await readAll(store, w2, 10);
      assert.deepEqual(got2, old2.map((r, i) => ({ ...r, pos: got2[i].pos })));
      assert.equal(sqlite.quarantined(10).filter((x) => x.source === 'redis').length, 1, 'the unreadable entry is quarantined, not lost');
      // the id sets came along: a retried send of a migrated reading is still a duplicate
      assert.equal(await store.append([old1[7], reading('lg9', w1 + 9000)]), 1);
      const all = await readAll(store, w1, 1000);
      assert.equal(all.length, 2501);
      assert.equal(await store.deleteWindow(w1, all[2499].pos), 2500);
      assert.equal(await store.dropWindow(w1), 1);
      // a second open finds nothing left to move
      lines.length = 0;
      const again = new RedisStore({ url: redis.url, log, writeTimeoutMs: 2000 });
      await again.open();
      await again.close();
      assert.equal(lines.filter((l) => l.msg.includes('old Redis stream layout')).length, 0);
    } finally {
      raw.disconnect();
      await store.close();
      await sqlite.close();
      await redis.destroy();
      tmp.cleanup();
    }
  });
});

describe('RedisStore with appendonly', () => {
  test('acknowledged readings survive a redis-server restart', async () => {
    const redis = new TestRedis({ appendonly: true });
    await redis.start();
    // latest with every reading, so the view itself is what the AOF must bring back
    const store = new RedisStore({ url: redis.url, writeTimeoutMs: 2000, latestEveryMs: 0 });
    await store.open();
    const rs = Array.from({ length: 50 }, (_, i) => reading('aof', T0 + i));
    for (const r of rs) await store.append([r]);
    await redis.stop();
    await redis.start();
    await waitReady(store);
    const got = await readAll(store, T0, 20);
    assert.deepEqual(got.map((r) => r.id), rs.map((r) => r.id));
    assert.equal((await store.latestPerDevice())[0].n, rs[49].id);
    await store.close();
    await redis.destroy();
  });
});

async function waitReady(store: RedisStore): Promise<void> {
  for (let i = 0; i < 400; i++) {
    try { await store.ping(); return; } catch { await new Promise((r) => setTimeout(r, 25)); }
  }
  throw new Error('redis did not come back');
}
