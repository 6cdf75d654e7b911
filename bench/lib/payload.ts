/**
 * What the load generators send: the original ESP32 sketch's exact payload
 * (test/support/payloads.ts), one body per device of a simulated fleet so readings spread over
 * devices and groups as a site's would. Only `device_id`, `group_id` and the per-device counters
 * differ between bodies; every field and type is the sketch's.
 */
import { ORIGINAL_SKETCH_READING } from '../../test/support/payloads.ts';

export const FLEET_DEVICES = 300;
export const FLEET_GROUPS = 10;

export function deviceId(i: number): string {
  return `esp32-${(0xa1b2c3d40000 + i).toString(16).padStart(12, '0')}`;
}

export function groupId(i: number): string {
  return `net-192-168-${1 + (i % FLEET_GROUPS)}-10`;
}

/** The sketch's reading as device `i` sends it, its `loop_count`-th time. */
export function sketchReading(i: number, loop = 41): Record<string, unknown> {
  return { ...ORIGINAL_SKETCH_READING, device_id: deviceId(i), group_id: groupId(i), loop_count: loop, uptime_ms: ORIGINAL_SKETCH_READING.uptime_ms + loop * 1000 };
}

/** One JSON body per device: a single reading each. */
export function singleBodies(devices = FLEET_DEVICES): string[] {
  return Array.from({ length: devices }, (_, i) => JSON.stringify(sketchReading(i)));
}

/** Batch bodies: `size` readings of consecutive devices in a JSON array, as a batching board or a relay sends them. */
export function batchBodies(size: number, count = 60, devices = FLEET_DEVICES): string[] {
  return Array.from({ length: count }, (_, b) => JSON.stringify(Array.from({ length: size }, (_, k) => sketchReading((b * size + k) % devices, 41 + b))));
}
