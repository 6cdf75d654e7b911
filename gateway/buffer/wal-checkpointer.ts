import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import type { Logger } from '../log.ts';

/** SQLite's own default: a checkpoint on the writing connection once the WAL holds this many pages. */
export const SQLITE_AUTOCHECKPOINT_PAGES = 1000;

export interface WalCheckpointerOptions {
  /** The database file; the worker opens its own connection to it. */
  path: string;
  /** The store's connection, whose automatic checkpoint is moved out of the way while the worker runs. */
  db: Database.Database;
  /** The worker starts once this many group commits happen within one second (under load only). */
  startAtCommitsPerSecond?: number;
  /** While the worker runs, the writing connection still checkpoints once the WAL reaches this many pages (see the class comment). */
  backstopPages?: number;
  /** The worker checkpoints once this many WAL pages wait to be copied (SQLite's own threshold). */
  thresholdPages?: number;
  /** How often the worker looks at the WAL. */
  intervalMs?: number;
  /** The worker exits after this long without anything to copy. */
  idleStopMs?: number;
  /** better-sqlite3's entry point for the worker; a seam for the test of a worker that cannot start. */
  driver?: string;
  log?: Logger;
}

/**
 * Copies the WAL into the database file from a worker thread, so the event loop does not.
 *
 * SQLite checkpoints on the connection that commits, once the WAL passes 1000 pages: it copies the
 * pages into the database file and fsyncs the WAL and the database, synchronously, inside one
 * append's COMMIT (8-16 ms here against ~2 ms without, and far longer on an SD card). Under load a
 * worker with its own connection runs PASSIVE checkpoints instead, which never block the writer.
 *
 * Why the writing connection keeps a (higher) automatic checkpoint: SQLite restarts the WAL from
 * its beginning only when a checkpoint has copied every frame and no commit came after it. With
 * commits arriving every millisecond a checkpoint from another connection almost never sees that,
 * and the WAL would grow without bound. At `backstopPages` the writer checkpoints once itself,
 * which completes (no commit can come between) and lets the next commit restart the WAL; by then
 * the worker has copied nearly everything, so that checkpoint is short.
 *
 * Durability is unchanged: the worker's connection runs `synchronous=NORMAL`, so its checkpoints
 * sync the WAL before they copy and the database after (the premise of wal-sync.ts).
 *
 * The worker costs ~10 MB of RSS (an isolate with better-sqlite3), so it runs only under load:
 * it starts at `startAtCommitsPerSecond` and exits after `idleStopMs` without work. If it cannot
 * start or fails, the writer's automatic checkpoint goes back to SQLite's default.
 */
export class WalCheckpointer {
  /** Worker checkpoints that copied pages (for tests and the bench). */
  copies = 0;
  /** Workers started so far. */
  starts = 0;
  private worker: Worker | null = null;
  private exited: Promise<void> | null = null;
  private windowStart = 0;
  private commitsInWindow = 0;
  private stopped = false;

  constructor(private readonly opts: WalCheckpointerOptions) {}

  get running(): boolean {
    return this.worker !== null;
  }

  /** Called after each group commit: starts the worker once commits come fast enough. */
  committed(): void {
    if (this.worker || this.stopped) return;
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.commitsInWindow = 0;
    }
    if (++this.commitsInWindow >= (this.opts.startAtCommitsPerSecond ?? 2)) this.start();
  }

  /**
   * A bulk write (an uploaded window's delete) is about to run: start the worker now rather than
   * at the commit rate, because such a write dirties thousands of pages in a few commits.
   */
  demand(): void {
    if (!this.worker && !this.stopped) this.start();
  }

  private start(): void {
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          driver: this.opts.driver ?? createRequire(import.meta.url).resolve('better-sqlite3'),
          path: this.opts.path,
          thresholdPages: this.opts.thresholdPages ?? SQLITE_AUTOCHECKPOINT_PAGES,
          intervalMs: this.opts.intervalMs ?? 100,
          idleStopMs: this.opts.idleStopMs ?? 30_000,
        },
        // It holds one connection and a few small objects; keep its heap from growing.
        resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
      });
    } catch (err) {
      this.opts.log?.warn({ err: (err as Error).message }, 'SQLite checkpoint worker could not start; checkpoints stay on the event loop');
      this.stopped = true;
      return;
    }
    this.worker = worker;
    this.starts++;
    this.setAutocheckpoint(this.opts.backstopPages ?? 4 * SQLITE_AUTOCHECKPOINT_PAGES);
    worker.on('message', (m: { copied?: boolean; error?: string }) => {
      if (m.copied) this.copies++;
      if (m.error) this.failed(m.error);
    });
    worker.on('error', (err) => this.failed(err.message));
    this.exited = new Promise((resolve) => worker.once('exit', () => {
      if (this.worker === worker) this.worker = null;
      this.setAutocheckpoint(SQLITE_AUTOCHECKPOINT_PAGES);
      resolve();
    }));
  }

  /** The worker exits after this; it is not started again, and 'exit' hands checkpoints back to SQLite. */
  private failed(reason: string): void {
    this.opts.log?.warn({ err: reason }, 'SQLite checkpoint worker failed; checkpoints go back to the event loop');
    this.stopped = true;
  }

  private setAutocheckpoint(pages: number): void {
    if (this.opts.db.open) this.opts.db.pragma(`wal_autocheckpoint = ${pages}`);
  }

  /** Ends the worker (it closes its connection first), so the store's connection closes last. */
  async stop(): Promise<void> {
    this.stopped = true;
    const worker = this.worker;
    if (!worker) return;
    worker.postMessage('stop');
    const timer = setTimeout(() => void worker.terminate(), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

// CommonJS, evaluated in the worker: the bundle and tsx both pass it through as text.
// How many pages wait is read from the wal-index header in the -shm file (mxFrame at byte 16,
// nBackfill at byte 96, native byte order; https://www.sqlite.org/walformat.html), so the worker
// checkpoints as often as SQLite itself would (every 1000 pages) and no more: each checkpoint
// writes every page it copies and fsyncs twice, which an SD card pays for. The header is read
// without SQLite's locks, as a hint; without it the worker checkpoints on every look.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const os = require('node:os');
const { driver, path, thresholdPages, intervalMs, idleStopMs } = workerData;
let db;
try {
  const Database = require(driver);
  db = new Database(path, { fileMustExist: true, timeout: 0 });
  db.pragma('synchronous = NORMAL');
} catch (err) {
  parentPort.postMessage({ error: String((err && err.message) || err) });
  process.exit(1);
}
const header = Buffer.alloc(104);
const le = os.endianness() === 'LE';
let shm = null;
function waiting() {
  try {
    if (shm === null) shm = fs.openSync(path + '-shm', 'r');
    if (fs.readSync(shm, header, 0, 104, 0) < 104) return Infinity;
    const mxFrame = le ? header.readUInt32LE(16) : header.readUInt32BE(16);
    const nBackfill = le ? header.readUInt32LE(96) : header.readUInt32BE(96);
    return mxFrame - nBackfill;
  } catch {
    return Infinity;
  }
}
let timer = null;
let lastWork = Date.now();
function pass() {
  timer = null;
  if (waiting() >= thresholdPages) {
    let r;
    try {
      [r] = db.pragma('wal_checkpoint(PASSIVE)');
    } catch (err) {
      parentPort.postMessage({ error: String((err && err.message) || err) });
      return finish();
    }
    lastWork = Date.now();
    parentPort.postMessage({ copied: r.checkpointed > 0 });
  } else if (Date.now() - lastWork >= idleStopMs) {
    return finish();
  }
  timer = setTimeout(pass, intervalMs);
}
function finish() {
  if (timer) clearTimeout(timer);
  timer = null;
  try { db.close(); } catch {}
  if (shm !== null) try { fs.closeSync(shm); } catch {}
  parentPort.close();
}
parentPort.on('message', (m) => { if (m === 'stop') finish(); });
pass();
`;
