import type { DeviceState } from './types.ts';

export interface Thresholds {
  /** The devices' normal reporting interval (`discovery.expected_interval_seconds`), ms. */
  expectedMs: number;
  /** `discovery.stale_after_seconds`, ms. */
  staleMs: number;
  /** `discovery.offline_after_seconds`, ms. */
  offlineMs: number;
}

export interface Liveness {
  lastReading: number | null;
  lastAnnouncement: number | null;
  /** When the last goodbye (TTL 0, or every record of the device expired) was seen. */
  goodbyeAt: number | null;
}

/**
 * The state of one device at `now` (all times epoch ms). The rules, in order:
 *
 * 1. `offline` if a goodbye arrived and nothing (no reading, no announcement) came after it.
 * 2. With at least one reading, by the age of the last reading:
 *    - `online` while it is at most `max(expected_interval, stale_after)` old: a device is never
 *      stale before it has missed at least one expected reading, and one late reading is tolerated
 *      up to `stale_after` (the default 180 s is three missed readings at the default 60 s);
 *    - `stale` from then until it is `offline_after` old;
 *    - `offline` after that.
 * 3. Without any reading: `discovered` while the last announcement is at most `offline_after`
 *    old, `offline` after that (its mDNS records normally expire, a goodbye, long before).
 */
export function deviceState(d: Liveness, now: number, t: Thresholds): DeviceState {
  if (d.goodbyeAt !== null && (d.lastReading ?? -Infinity) <= d.goodbyeAt && (d.lastAnnouncement ?? -Infinity) <= d.goodbyeAt) return 'offline';
  if (d.lastReading !== null) {
    const age = now - d.lastReading;
    if (age <= Math.max(t.expectedMs, t.staleMs)) return 'online';
    if (age <= t.offlineMs) return 'stale';
    return 'offline';
  }
  if (d.lastAnnouncement !== null && now - d.lastAnnouncement <= t.offlineMs) return 'discovered';
  return 'offline';
}

/** When `deviceState()` can next change on its own (without a new event), or null if it cannot. */
export function nextTransitionAt(d: Liveness, now: number, t: Thresholds): number | null {
  const candidates: number[] = [];
  if (d.lastReading !== null) candidates.push(d.lastReading + Math.max(t.expectedMs, t.staleMs) + 1, d.lastReading + t.offlineMs + 1);
  else if (d.lastAnnouncement !== null) candidates.push(d.lastAnnouncement + t.offlineMs + 1);
  const future = candidates.filter((c) => c > now);
  return future.length ? Math.min(...future) : null;
}
