/**
 * Process accounting from /proc (Linux): resident memory (VmRSS) and CPU time (utime + stime,
 * all threads) of another process, so the bench measures the server, not itself.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let tick = 0;
/** Clock ticks per second (`getconf CLK_TCK`), the unit of utime/stime in /proc/<pid>/stat. */
export function clockTick(): number {
  if (!tick) {
    try {
      tick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      tick = 100;
    }
  }
  return tick;
}

/** VmRSS in bytes, or null when the process is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** utime + stime of the process (all its threads) in seconds, or null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    return (Number(rest[11]) + Number(rest[12])) / clockTick();
  } catch {
    return null;
  }
}

/** Samples the RSS of some processes every `intervalMs` and keeps each one's peak. */
export class RssSampler {
  private timer: NodeJS.Timeout | null = null;
  readonly peak = new Map<number, number>();

  constructor(private readonly pids: number[], private readonly intervalMs = 100) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  sample(): void {
    for (const pid of this.pids) {
      const rss = rssBytes(pid);
      if (rss !== null && rss > (this.peak.get(pid) ?? 0)) this.peak.set(pid, rss);
    }
  }

  stop(): Map<number, number> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    return this.peak;
  }
}

/** CPU seconds used by each pid between `start()` and `stop()`. */
export class CpuMeter {
  private readonly begin = new Map<number, number>();
  constructor(private readonly pids: number[]) {}

  start(): this {
    for (const pid of this.pids) this.begin.set(pid, cpuSeconds(pid) ?? 0);
    return this;
  }

  stop(): Map<number, number> {
    const out = new Map<number, number>();
    for (const pid of this.pids) out.set(pid, Math.max(0, (cpuSeconds(pid) ?? 0) - (this.begin.get(pid) ?? 0)));
    return out;
  }
}

export const MB = 1024 * 1024;
