import type { Logger } from '../../log.ts';
import type { GatewayError } from '../../errors.ts';

/**
 * Logs MQTT refusals without letting one broken board fill the SD card: MQTT 3.1.1 has no
 * negative acknowledgement, so a board resends a refused message after every reconnect. The
 * first refusal of each code is logged at once, then at most one line per code per interval,
 * carrying how many were left out. Every refusal is counted in /metrics regardless.
 */
export class RefusalLog {
  private readonly last = new Map<string, { at: number; skipped: number }>();

  constructor(private readonly log: Logger, private readonly intervalMs = 60_000, private readonly now: () => number = Date.now) {}

  refused(err: GatewayError, fields: Record<string, unknown>, msg: string): void {
    const t = this.now();
    const seen = this.last.get(err.code);
    if (seen && t - seen.at < this.intervalMs) {
      seen.skipped++;
      return;
    }
    this.last.set(err.code, { at: t, skipped: 0 });
    this.log.warn({ ...fields, code: err.code, reason: err.message, ...(seen?.skipped ? { not_logged_since: seen.skipped } : {}) }, msg);
  }
}
