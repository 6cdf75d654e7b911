import type { Logger } from '../log.ts';
import type { UploadFailure } from './errors.ts';

/**
 * Exponential backoff with full jitter, floored at `baseMs` so a failing Atlas is never polled
 * in a tight loop: attempt n waits a uniform time in [base, min(max, base·2^n)].
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(baseMs + random() * Math.max(0, cap - baseMs));
}

/**
 * One clear line per outage instead of a stack trace per tick: the first failure is logged with
 * its reason, a different permanent reason (or a switch between transient and permanent) is
 * logged again, anything else at most every `remindMs` as a reminder with the count and the
 * latest reason, and recovery once.
 */
export class FailureLog {
  private since: number | null = null;
  private lastReason = '';
  private lastLogged = 0;
  private count = 0;

  constructor(private readonly log: Logger, private readonly remindMs = 5 * 60_000, private readonly now: () => number = Date.now) {}

  failed(what: string, f: UploadFailure, extra: Record<string, unknown> = {}): void {
    const t = this.now();
    this.count++;
    const fields = { kind: f.kind, code: f.code, reason: f.reason, ...extra };
    // An outage shows several transient messages (refused, timed out, closed…): one line for all
    // of them; a new permanent reason is something to act on, so it gets its own line.
    const key = f.kind === 'transient' ? 'transient' : `permanent:${f.reason}`;
    if (this.since === null || key !== this.lastReason) {
      this.since ??= t;
      this.lastReason = key;
      this.lastLogged = t;
      this.log.warn(fields, `${what}: ${f.reason}`);
    } else if (t - this.lastLogged >= this.remindMs) {
      this.lastLogged = t;
      this.log.warn({ ...fields, failures: this.count, since: new Date(this.since).toISOString() }, `${what}: still failing (${this.count} attempts since ${new Date(this.since).toISOString()})`);
    }
  }

  succeeded(what: string): void {
    if (this.since === null) return;
    this.log.info({ failures: this.count, since: new Date(this.since).toISOString() }, `${what}: working again after ${this.count} failed attempts`);
    this.since = null;
    this.count = 0;
    this.lastReason = '';
  }

  get failing(): boolean {
    return this.since !== null;
  }
}
