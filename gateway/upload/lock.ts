import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';

/** Locks held by this process, so two uploaders in one process (tests, `upload --now` in-process) also exclude each other. */
const heldHere = new Set<string>();

/**
 * One uploader per buffer file. `buffer.exclusive` serializes deleters inside one process; this
 * lock file (`<sqlite path>.upload.lock`, holding the owner's pid) keeps a second process —
 * `iotgw upload --now` next to the running daemon — from uploading the same window at the same
 * time, which could replace a complete part with a shorter one. A lock left by a killed process
 * is taken over once its pid is gone.
 */
export class UploadLock {
  private held = false;
  private readonly token = randomUUID();

  constructor(readonly path: string) {}

  /** Takes the lock; returns null on success, else the pid of the live process holding it. */
  acquire(): number | null {
    if (this.held) return null;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(this.path, 'wx', 0o600);
        writeSync(fd, `${process.pid} ${this.token}\n`);
        closeSync(fd);
        this.held = true;
        heldHere.add(this.token);
        return null;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = this.owner();
      if (owner !== null && (owner.pid === process.pid ? heldHere.has(owner.token) : alive(owner.pid))) return owner.pid;
      try {
        unlinkSync(this.path); // stale (owner gone, or unreadable): take it over
      } catch { /* raced with another taker: try again */ }
    }
    return this.owner()?.pid ?? -1;
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    heldHere.delete(this.token);
    try {
      if (this.owner()?.token === this.token) unlinkSync(this.path);
    } catch { /* already gone */ }
  }

  private owner(): { pid: number; token: string } | null {
    try {
      const [pid, token = ''] = readFileSync(this.path, 'utf8').trim().split(/\s+/);
      const n = Number(pid);
      return Number.isInteger(n) && n > 0 ? { pid: n, token } : null;
    } catch {
      return null;
    }
  }
}

/** Whether `pid` runs and looks like a Node process (after a reboot the pid may belong to anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /node|iotgw/.test(cmd);
  } catch {
    return true; // no /proc: trust kill(0)
  }
}
