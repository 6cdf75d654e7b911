/**
 * Readings built the way intake builds them, for benches that skip HTTP (redis-append-cost.ts,
 * sqlite-append-loop.ts): `toReadings` with the daemon's default limits and window. Its own
 * module so that payload.ts, which the upload baseline's bundle uses, stays free of gateway code.
 */
import { loadConfig } from '../../gateway/config.ts';
import { toReadings } from '../../gateway/ingest/validate.ts';
import type { Reading } from '../../gateway/reading.ts';

let config: ReturnType<typeof loadConfig> | null = null;

/** A parsed request body as the daemon's intake turns it into Readings. */
export function intakeReadings(body: unknown): Reading[] {
  config ??= loadConfig({ env: {} });
  return toReadings(body, { now: Date.now(), windowMs: config.window_seconds * 1000, limits: config.ingest });
}
