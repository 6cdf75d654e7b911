import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore, type SqliteStoreOptions } from '../gateway/buffer/sqlite-store.ts';
import type { Reading } from '../gateway/reading.ts';
import { sleep, tempDir, waitFor } from './support/ports.ts';
import { readAll } from './support/read-window.ts';

/**
 * 'full' mode: the connection runs NORMAL and the store fsyncs the WAL on the thread pool before
 * an append resolves (sqlite-store.ts, wal-sync.ts). The real file and SQLite throughout; only the
 * fsync call itself is replaced where a test needs to count, hold or fail it (option `syncWal`).
 */

const H = 3600_000;
const W = Date.UTC(2024, 0, 1, 10);
let n = 0;
function reading(at = W + 1000): Reading {
  const id = `s-${++n}`;
  return { id, device_id: 'd', group_id: 'g', window: Math.floor(at / H) * H, received_at: at, doc: { device_id: 'd', group_id: 'g', timestamp: new Date(at).toISOString(), status: 'online', n: id } };
}

/** A promise's state without awaiting it. */
function track<T>(p: Promise<T>): { settled: boolean; value?: T; error?: unknown } {
  const t: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  p.then((v) => { t.settled = true; t.value = v; }, (e) => { t.settled = true; t.error = e; });
  return t;
}

/** A few turns of the event loop, so anything that could settle would have. */
async function turns(k = 5): Promise<void> {
  for (let i = 0; i < k; i++) await new Promise((r) => setImmediate(r));
}

/** An fsync seam the test releases (or fails) call by call; it still runs the real fsync. */
function heldSync() {
  const calls: { release(): void; fail(err: Error): void }[] = [];
  const syncWal = (fd: number) => new Promise<void>((resolve, reject) => {
    calls.push({
      release: () => { fsyncSync(fd); resolve(); },
      fail: reject,
    });
  });
  return { calls, syncWal };
}

/** Runs `fn` on an open store in a temp dir; after it closed, returns the ids a fresh store reads back. */
async function withStore(opts: Partial<SqliteStoreOptions>, fn: (store: SqliteStore) => Promise<void>): Promise<string[]> {
  const tmp = tempDir('iotgw-sqlite-sync-');
  const path = join(tmp.path, 'buffer.db');
  const store = new SqliteStore({ path, groupCommitMs: 0, ...opts });
  await store.open();
  try {
    await fn(store);
    await store.close();
    return await idsAfterReopen(path);
  } finally {
    await store.close();
    tmp.cleanup();
  }
}

async function idsAfterReopen(path: string, window = W): Promise<string[]> {
  const again = new SqliteStore({ path, synchronous: 'normal' });
  await again.open();
  try {
    return (await readAll(again, window, 1000)).map((r) => r.id);
  } finally {
    await again.close();
  }
}

describe('SqliteStore full mode: fsync of the WAL off the event loop', () => {
  test('the connection runs NORMAL, appends resolve after a real fsync and are there after reopen', async () => {
    const rs = Array.from({ length: 20 }, () => reading());
    const stored = await withStore({}, async (store) => {
      assert.equal(store.db.pragma('synchronous', { simple: true }), 1, 'NORMAL');
      assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
      const counts = await Promise.all(rs.map((r) => store.append([r])));
      assert.deepEqual(counts, rs.map(() => 1));
      assert.ok(store.walSyncs >= 1);
      await store.sync();
    });
    assert.deepEqual(stored, rs.map((r) => r.id));
  });

  test('N appends in one tick share commits, and there are no more fsyncs than commits', async () => {
    let fsyncs = 0;
    const syncWal = async (fd: number): Promise<void> => { fsyncs++; fsyncSync(fd); };
    await withStore({ syncWal, groupCommitMs: 2 }, async (store) => {
      const commits = store.commits;
      const N = 64;
      const results = await Promise.all(Array.from({ length: N }, () => store.append([reading()])));
      assert.equal(results.reduce((s, x) => s + x, 0), N);
      const used = store.commits - commits;
      assert.ok(used >= 1 && used < N, `${N} appends took ${used} commits`);
      assert.ok(fsyncs >= 1 && fsyncs <= used, `${fsyncs} fsyncs for ${used} commits`);
    });
  });

  test('an append stays pending until the fsync begun after its commit returns; appends meanwhile form one commit when it returns', async () => {
    const held = heldSync();
    await withStore({ syncWal: held.syncWal }, async (store) => {
      const a = reading();
      const first = track(store.append([a]));
      await waitFor(() => held.calls.length === 1, 15000, 'first fsync', 1);
      await turns();
      assert.equal(first.settled, false, 'resolved before its fsync returned');
      assert.deepEqual((await readAll(store, W, 100)).map((r) => r.id), [a.id], 'committed (visible) already');

      // While that fsync runs, the next group keeps filling instead of committing in pieces.
      const commits = store.commits;
      const b = reading();
      const c = reading();
      const second = track(store.append([b]));
      await sleep(20);
      const third = track(store.append([c]));
      await sleep(20);
      assert.equal(store.commits, commits, 'held while the fsync runs');
      assert.equal(held.calls.length, 1, 'one fsync in flight at a time');
      const viaSync = track(store.sync());

      held.calls[0].release();
      await waitFor(() => first.settled, 15000, 'first append', 1);
      assert.equal(first.value, 1);
      await waitFor(() => held.calls.length === 2, 15000, 'second fsync', 1);
      assert.equal(store.commits, commits + 1, 'b and c in one transaction, right after the fsync returned');
      assert.deepEqual((await readAll(store, W, 100)).map((r) => r.id), [a.id, b.id, c.id]);
      await turns();
      assert.equal(second.settled || third.settled, false, 'resolved by an fsync that began before their commit');
      assert.equal(viaSync.settled, false, 'sync() resolved by an fsync that began before the call');

      held.calls[1].release();
      await waitFor(() => second.settled && third.settled && viaSync.settled, 15000, 'second group', 1);
      assert.deepEqual([second.value, third.value], [1, 1]);
      assert.equal(viaSync.error, undefined);
      assert.equal(held.calls.length, 2, 'the group and sync() shared the second fsync');
    });
  });

  test('a failed fsync rejects every caller it covered; later appends resolve and all are readable after reopen', async () => {
    let failNext = true;
    let calls = 0;
    const syncWal = async (fd: number): Promise<void> => {
      calls++;
      if (failNext) {
        failNext = false;
        throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
      }
      fsyncSync(fd);
    };
    const failed = [reading(), reading(), reading()];
    const later = reading();
    const stored = await withStore({ syncWal }, async (store) => {
      const results = await Promise.allSettled(failed.map((r) => store.append([r])));
      assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
      for (const r of results) assert.equal(((r as PromiseRejectedResult).reason as { code?: string }).code, 'sqlite_wal_sync_failed');
      assert.equal(calls, 1);
      // The device retries: the readings are committed already, so the retry stores nothing twice.
      assert.equal(await store.append([later]), 1);
      assert.equal(await store.append([failed[0]]), 0);
      assert.equal(calls, 3);
    });
    assert.deepEqual(stored.sort(), [...failed, later].map((r) => r.id).sort());
  });

  test("'normal' makes no fsync of its own, and sync() does not wait for one", async () => {
    let calls = 0;
    const syncWal = async (): Promise<void> => { calls++; };
    const rs = [reading(), reading()];
    const stored = await withStore({ synchronous: 'normal', syncWal }, async (store) => {
      assert.equal(store.db.pragma('synchronous', { simple: true }), 1, 'NORMAL');
      await Promise.all(rs.map((r) => store.append([r])));
      await store.sync();
      assert.equal(calls, 0);
      assert.equal(store.walSyncs, 0);
    });
    assert.deepEqual(stored, rs.map((r) => r.id));
  });

  test('close waits for the fsync of the last commit, then closes; a reopen fsyncs the WAL again', async () => {
    const held = heldSync();
    const tmp = tempDir('iotgw-sqlite-sync-');
    const path = join(tmp.path, 'buffer.db');
    try {
      const store = new SqliteStore({ path, groupCommitMs: 0, syncWal: held.syncWal });
      await store.open();
      const r = reading();
      const appended = track(store.append([r]));
      await waitFor(() => held.calls.length === 1, 15000, 'fsync', 1);
      const closed = track(store.close());
      await turns();
      assert.equal(closed.settled, false, 'closed before the fsync returned');
      held.calls[0].release();
      await waitFor(() => closed.settled && appended.settled, 15000, 'close', 1);
      assert.equal(appended.value, 1);
      await assert.rejects(store.append([reading()]), /closed/);

      await store.open();
      const r2 = reading();
      const again = track(store.append([r2]));
      await waitFor(() => held.calls.length === 2, 15000, 'fsync after reopen', 1);
      held.calls[1].release();
      await waitFor(() => again.settled, 15000, 'append after reopen', 1);
      assert.equal(again.value, 1);
      await store.close();
      assert.deepEqual(await idsAfterReopen(path), [r.id, r2.id]);
    } finally {
      tmp.cleanup();
    }
  });
});
