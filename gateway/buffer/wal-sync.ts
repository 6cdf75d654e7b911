import { closeSync, fsync, openSync } from 'node:fs';
import type { Logger } from '../log.ts';

/** How the WAL is made durable; tests pass their own to count, hold or fail fsyncs. */
export type SyncWal = (fd: number) => Promise<void>;

export const fsyncFd: SyncWal = (fd) => new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));

/** A WAL fsync failed: the commits it covered are not known to be on disk. */
export class WalSyncError extends Error {
  readonly code = 'sqlite_wal_sync_failed';
  constructor(cause: unknown) {
    super(`fsync of the SQLite WAL failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'WalSyncError';
  }
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * fsync of the SQLite `-wal` file on libuv's thread pool, so that `synchronous=FULL` durability
 * does not block the event loop: the store runs the connection with NORMAL and, after each commit,
 * waits here before its callers' promises resolve. Why NORMAL + this fsync is FULL's guarantee:
 * - In WAL mode FULL differs from NORMAL only by one sync of the WAL after a commit's frames are
 *   written (sqlite3WalFrames; FULL would also pad to a sector boundary, but not on a VFS with
 *   powersafe overwrite, which the unix VFS reports by default). Both modes sync the WAL header
 *   when the WAL restarts and sync the WAL and the database around every checkpoint.
 * - The COMMIT's write()s are done when better-sqlite3 returns, so an fsync of the same file begun
 *   afterwards puts them on disk, with every earlier commit's frames; after a power cut SQLite's
 *   recovery replays the WAL up to its last valid commit frame, ours or a later one. A later
 *   commit never survives without the earlier ones (the frames' checksums are chained).
 * - The WAL is one file for the life of the connection: after a checkpoint the next writer
 *   restarts it from offset 0 in place (TRUNCATE truncates it in place, same inode), and SQLite
 *   unlinks it only when the last connection closes. A checkpoint that overwrites frames not yet
 *   fsynced here has synced them itself and copied them into the database file first. So one
 *   descriptor, opened after the database is in WAL mode, stays right until the store closes.
 *
 * One fsync in flight at a time. `after()` resolves once an fsync that STARTED after the call has
 * returned: everything written to the file before the call is then on disk. Callers that arrive
 * while an fsync runs wait for the next one, which then covers all of them: appends never cause
 * more fsyncs than commits, and fewer once commits come faster than the disk syncs.
 */
export class WalSync {
  /** fsyncs started (for tests and the bench). */
  syncs = 0;
  private fd: number | null = null;
  private waiting: Waiter[] = [];
  private running: Promise<void> | null = null;
  private idleHooks: (() => void)[] = [];
  /** Set by a failed fsync; see `round`. */
  private failed = false;

  constructor(
    private readonly syncWal: SyncWal,
    /**
     * Runs before the first fsync after a failed one; throws if it could not make the WAL's
     * content durable by other means (the store checkpoints it into the main file).
     */
    private readonly recover: () => void,
    private readonly log?: Logger,
  ) {}

  /**
   * Opens the file once the database is in WAL mode and has opened its WAL. The descriptor stays
   * valid for as long as the database is open: SQLite reuses (and may truncate) the same file
   * after a checkpoint and unlinks it only when the last connection closes.
   */
  open(walPath: string): void {
    if (this.fd !== null) return;
    try {
      this.fd = openSync(walPath, 'r');
    } catch (err) {
      throw Object.assign(new Error(`cannot open the SQLite WAL ${walPath} to fsync it: ${(err as Error).message}`), { code: 'sqlite_wal_missing' });
    }
  }

  /** Resolves after an fsync of the WAL that began after this call; rejects with WalSyncError if it failed. */
  after(): Promise<void> {
    if (this.fd === null) return Promise.reject(new Error('sqlite WAL is not open'));
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.running || this.waiting.length === 0 || this.fd === null) return;
    const batch = this.waiting;
    this.waiting = [];
    this.running = this.round(this.fd, batch).finally(() => {
      this.running = null;
      const hooks = this.idleHooks;
      this.idleHooks = [];
      for (const fn of hooks) fn();
      this.kick();
    });
  }

  private async round(fd: number, batch: Waiter[]): Promise<void> {
    try {
      // After a failed fsync, Linux may have dropped the dirty pages it could not write and a
      // second fsync then reports success without them. Frames of the failed round would be
      // missing, and SQLite's recovery stops at the first bad frame: commits acknowledged later
      // would be cut off with them. So first copy the WAL into the main file (SQLite's own
      // checkpoint, which syncs both files), before anything else is acknowledged.
      if (this.failed) {
        this.recover();
        this.failed = false;
      }
      this.syncs++;
      await this.syncWal(fd);
    } catch (err) {
      this.failed = true;
      const e = err instanceof WalSyncError ? err : new WalSyncError(err);
      this.log?.error({ err: (err as Error)?.message, code: e.code, callers: batch.length }, 'fsync of the SQLite WAL failed: the appends it covered are rejected');
      for (const w of batch) w.reject(e);
      return;
    }
    for (const w of batch) w.resolve();
  }

  /** True while an fsync runs. */
  get busy(): boolean {
    return this.running !== null;
  }

  /**
   * Calls `fn` once the fsync running now has settled and its callers were told, before the next
   * round starts, so what `fn` commits (and asks to sync) joins that round.
   */
  onceIdle(fn: () => void): void {
    if (!this.running) fn();
    else this.idleHooks.push(fn);
  }

  /** Waits for every requested fsync to settle, then closes the descriptor. */
  async close(): Promise<void> {
    while (this.running) await this.running;
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
