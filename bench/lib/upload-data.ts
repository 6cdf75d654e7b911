/**
 * The upload benchmark's data: one closed hour of a 300-device site, each device sending the
 * sketch's reading once a second (300 × 3600 ≈ 1.1M readings). The gateway side gets them as
 * buffered Readings (as intake would have stored them); the baseline gets the same documents.
 */
import type { Reading } from '../../gateway/reading.ts';
import { deviceId, groupId, sketchReading } from './payload.ts';

export const HOUR_MS = 3600_000;

/** A window that closed at least an hour ago, so the uploader takes it. */
export function closedWindow(now = Date.now()): number {
  return Math.floor(now / HOUR_MS) * HOUR_MS - 2 * HOUR_MS;
}

/** Reading `n` of the window: device `n % devices`, second `floor(n / devices)`. */
export function makeReading(n: number, devices: number, window: number): Reading {
  const d = n % devices;
  const second = Math.floor(n / devices);
  const receivedAt = window + second * 1000 + (d % 1000);
  const doc = { ...sketchReading(d, second), timestamp: new Date(receivedAt).toISOString(), status: 'online' as const };
  return { id: `dev:${deviceId(d)}/bench/${second}`, device_id: deviceId(d), group_id: groupId(d), window, received_at: receivedAt, doc: doc as Reading['doc'] };
}

/** The readings in chunks of `size`, in receive order. */
export function* readingChunks(total: number, devices: number, window: number, size = 10_000): Generator<Reading[]> {
  for (let start = 0; start < total; start += size) {
    const chunk: Reading[] = [];
    for (let n = start; n < Math.min(total, start + size); n++) chunk.push(makeReading(n, devices, window));
    yield chunk;
  }
}
