import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore, type SqliteStoreOptions } from '../gateway/buffer/sqlite-store.ts';
import { SQLITE_AUTOCHECKPOINT_PAGES } from '../gateway/buffer/wal-checkpointer.ts';
import type { Reading } from '../gateway/reading.ts';
import { ORIGINAL_SKETCH_READING } from './support/payloads.ts';
import { tempDir, waitFor } from './support/ports.ts';
import { readAll } from './support/read-window.ts';

/**
 * The checkpoint worker (wal-checkpointer.ts): a real worker thread with its own better-sqlite3
 * connection to the same real file. Thresholds are lowered so a few hundred commits exercise it.
 */

const H = 3600_000;
const W = Date.UTC(2024, 0, 1, 10);
const PAGE = 4096;
let n = 0;

function reading(): Reading {
  const id = `c-${String(++n).padStart(8, '0')}`;
  const device = `esp32-${n % 40}`;
  return { id, device_id: device, group_id: 'g', window: W, received_at: W + n, doc: { ...ORIGINAL_SKETCH_READING, device_id: device, group_id: 'g', timestamp: new Date(W + n).toISOString(), status: 'online', n: id } };
}

const FAST: NonNullable<SqliteStoreOptions['checkpointer']> = { startAtCommitsPerSecond: 5, thresholdPages: 40, intervalMs: 5, backstopPages: 200, idleStopMs: 60_000 };

/** `commits` group commits of `perCommit` concurrent single-reading appends each. */
async function load(store: SqliteStore, commits: number, perCommit: number): Promise<void> {
  for (let i = 0; i < commits; i++) await Promise.all(Array.from({ length: perCommit }, () => store.append([reading()])));
}

async function withStore(checkpointer: SqliteStoreOptions['checkpointer'], fn: (store: SqliteStore, path: string) => Promise<void>): Promise<void> {
  const tmp = tempDir('iotgw-sqlite-ckpt-');
  const path = join(tmp.path, 'buffer.db');
  const store = new SqliteStore({ path, groupCommitMs: 0, checkpointer });
  await store.open();
  try {
    await fn(store, path);
  } finally {
    await store.close();
    tmp.cleanup();
  }
}

const autocheckpoint = (store: SqliteStore): number => store.db.pragma('wal_autocheckpoint', { simple: true }) as number;

describe('SQLite checkpoint worker', () => {
  test('under sustained appends the worker copies the WAL, the WAL keeps restarting, nothing is lost', async () => {
    await withStore(FAST, async (store, path) => {
      await load(store, 300, 20);
      const worker = store.walCheckpointer!;
      assert.equal(worker.starts, 1, 'one worker started under load');
      assert.ok(worker.running);
      assert.equal(autocheckpoint(store), 200, 'the writer keeps only the backstop checkpoint');
      assert.ok(worker.copies > 0, 'the worker copied WAL pages into the database file');
      const walPages = statSync(`${path}-wal`).size / (PAGE + 24);
      // 6,000 readings of ~600 bytes wrote thousands of WAL pages; a WAL that never restarted would hold them all.
      assert.ok(walPages < 2 * 200, `the WAL restarts near the backstop (${Math.round(walPages)} pages)`);
      assert.equal((await readAll(store, W, 1000)).length, 6000);
    });
  });

  test('it starts only under load and exits when idle; the writer gets SQLite\'s default back', async () => {
    await withStore({ ...FAST, startAtCommitsPerSecond: 50, idleStopMs: 150 }, async (store) => {
      await load(store, 10, 5);
      assert.equal(store.walCheckpointer!.starts, 0, '10 commits are not load');
      assert.equal(autocheckpoint(store), SQLITE_AUTOCHECKPOINT_PAGES);
      await load(store, 200, 5);
      assert.equal(store.walCheckpointer!.starts, 1);
      await waitFor(() => !store.walCheckpointer!.running, 10_000, 'the idle worker to exit');
      assert.equal(autocheckpoint(store), SQLITE_AUTOCHECKPOINT_PAGES);
    });
  });

  test('an uploaded window is dropped whole: even a long delete needs no worker', async () => {
    await withStore({ ...FAST, startAtCommitsPerSecond: 1e9 }, async (store) => {
      const rows = Array.from({ length: 20_000 }, reading);
      for (let i = 0; i < rows.length; i += 1000) store.writeNow([rows.slice(i, i + 1000)]);
      const first = await store.readWindow(W, null, 1000);
      assert.equal(await store.deleteWindow(W, first.next!), 1000, 'a delete up to a position inside the window');
      assert.equal(await store.dropWindow(W), 19_000);
      assert.equal(store.walCheckpointer!.starts, 0, 'one DROP TABLE: nothing for a worker to copy off the event loop');
      assert.equal((await readAll(store, W, 1000)).length, 0);
      assert.deepEqual(await store.listWindows(), []);
    });
  });

  test('a worker that cannot open the database leaves checkpoints to SQLite; appends are unaffected', async () => {
    await withStore({ ...FAST, driver: '/nonexistent/better-sqlite3' }, async (store) => {
      await load(store, 100, 5);
      await waitFor(() => !store.walCheckpointer!.running, 10_000, 'the failed worker to exit');
      assert.equal(autocheckpoint(store), SQLITE_AUTOCHECKPOINT_PAGES);
      await load(store, 100, 5);
      assert.equal(store.walCheckpointer!.starts, 1, 'a failed worker is not restarted on every commit');
      assert.equal((await readAll(store, W, 1000)).length, 1000);
    });
  });

  test('close ends the worker first: the store closes last and SQLite removes the WAL', async () => {
    const tmp = tempDir('iotgw-sqlite-ckpt-');
    const path = join(tmp.path, 'buffer.db');
    try {
      const store = new SqliteStore({ path, groupCommitMs: 0, checkpointer: FAST });
      await store.open();
      await load(store, 100, 10);
      assert.ok(store.walCheckpointer!.running);
      await store.close();
      assert.equal(existsSync(`${path}-wal`), false, 'the last connection to close checkpointed and removed the WAL');
      const again = new SqliteStore({ path, checkpointer: false });
      await again.open();
      assert.equal((await readAll(again, W, 1000)).length, 1000);
      await again.close();
    } finally {
      tmp.cleanup();
    }
  });
});
