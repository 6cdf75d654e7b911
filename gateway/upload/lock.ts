import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';

/**
 * One uploader per buffer file. `buffer.exclusive` serializes deleters inside one process; this
 * lock file (`<sqlite path>.upload.lock`, holding the owner's pid) keeps a second process —
 * `iotgw upload --now` next to the running daemon — from uploading the same window at the same
 * time, which could replace a complete part with a shorter one. A lock left by a killed process
 * is taken over once its pid is gone.
 */
export class UploadLock {
  private held = false;

  constructor(readonly path: string) {}

  /** Takes the lock; returns null on success, else the pid of the live process holding it. */
  acquire(): number | null {
    if (this.held) return null;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(this.path, 'wx', 0o600);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        this.held = true;
        return null;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = this.owner();
      if (owner !== null && owner !== process.pid && alive(owner)) return owner;
      try {
        unlinkSync(this.path); // stale (owner gone, or unreadable): take it over
      } catch { /* raced with another taker: try again */ }
    }
    return this.owner() ?? -1;
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    try {
      if (this.owner() === process.pid) unlinkSync(this.path);
    } catch { /* already gone */ }
  }

  private owner(): number | null {
    try {
      const pid = Number(readFileSync(this.path, 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : null;
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
