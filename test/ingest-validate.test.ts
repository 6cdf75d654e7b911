import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toReadings } from '../gateway/ingest/validate.ts';
import { GatewayError } from '../gateway/errors.ts';
import { schema } from '../gateway/config-schema.ts';
import { ORIGINAL_SKETCH_READING } from './support/payloads.ts';

const limits = {
  max_batch: schema.ingest.max_batch.default,
  max_metrics: schema.ingest.max_metrics.default,
  max_depth: schema.ingest.max_depth.default,
  max_string_length: schema.ingest.max_string_length.default,
  max_clock_skew_seconds: 300,
  max_late_seconds: 86400,
};
const HOUR = 3600_000;
const now = Date.UTC(2026, 10, 23, 17, 30, 0);
const ctx = { now, windowMs: HOUR, limits };

function rejects(body: unknown, code: string, path?: string) {
  assert.throws(() => toReadings(body, ctx), (err: unknown) => {
    assert.ok(err instanceof GatewayError, String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.path, path, err.message);
    return true;
  });
}

test('the original sketch payload is accepted whole, with timestamp and status added', () => {
  const [r] = toReadings(ORIGINAL_SKETCH_READING, ctx);
  assert.equal(r.device_id, 'esp32-a1b2c3d4e5f6');
  assert.equal(r.group_id, 'net-192-168-1-10');
  assert.equal(r.doc.timestamp, new Date(now).toISOString());
  assert.equal(r.doc.status, 'online');
  for (const [k, v] of Object.entries(ORIGINAL_SKETCH_READING)) assert.deepEqual(r.doc[k], v, k);
  assert.equal(r.window, Date.UTC(2026, 10, 23, 17));
  assert.match(r.id, /^rcv:/);
});

test('device timestamps and status cannot override the gateway fields', () => {
  const [r] = toReadings({ device_id: 'd1', group_id: 'g', timestamp: 'bogus', status: 'offline' }, ctx);
  assert.equal(r.doc.timestamp, new Date(now).toISOString());
  assert.equal(r.doc.status, 'online');
});

test('reading id is stable from (device_id, boot_id, seq) so retries are stored once', () => {
  const body = { device_id: 'd1', group_id: 'g', boot_id: 'b0a7', seq: 42, t: 1 };
  const [a] = toReadings(body, ctx);
  const [b] = toReadings(body, { ...ctx, now: now + 5000 });
  assert.equal(a.id, 'dev:d1/b0a7/42');
  assert.equal(a.id, b.id);
  const [c] = toReadings({ device_id: 'd1', group_id: 'g', seq: 42 }, ctx);
  const [d] = toReadings({ device_id: 'd1', group_id: 'g', seq: 42 }, ctx);
  assert.notEqual(c.id, d.id, 'without boot_id a seq repeats across boots, so each receipt is unique');
});

test('ids minted per receipt are unique within one millisecond and sort by receive time', () => {
  const same = Array.from({ length: 1000 }, () => toReadings({ device_id: 'd1', group_id: 'g' }, ctx)[0].id);
  assert.equal(new Set(same).size, same.length);
  const later = [1, 1000, 3_600_000, 86_400_000 * 400].map((dt) => toReadings({ device_id: 'd1', group_id: 'g' }, { ...ctx, now: now + dt })[0].id);
  const ordered = [same[0], ...later];
  assert.deepEqual([...ordered].sort(), ordered, 'string order is receive order');
  assert.match(same[0], /^rcv:[0-9a-f]{12}-[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\/0$/);
});

test('a synced device time files a replayed reading under its own hour; an implausible one is ignored', () => {
  const earlier = now - 2 * HOUR;
  assert.equal(toReadings({ device_id: 'd', group_id: 'g', ts: earlier }, ctx)[0].window, Date.UTC(2026, 10, 23, 15));
  assert.equal(toReadings({ device_id: 'd', group_id: 'g', ts: now + 3 * HOUR }, ctx)[0].window, Date.UTC(2026, 10, 23, 17));
  assert.equal(toReadings({ device_id: 'd', group_id: 'g', ts: now - 30 * 86400_000 }, ctx)[0].window, Date.UTC(2026, 10, 23, 17));
});

test('batches: an array and {readings: [...]} are both accepted', () => {
  const items = [{ device_id: 'a', group_id: 'g', v: 1 }, { device_id: 'b', group_id: 'g', v: 2 }];
  assert.equal(toReadings(items, ctx).length, 2);
  assert.deepEqual(toReadings({ readings: items }, ctx).map((r) => r.device_id), ['a', 'b']);
});

test('missing and malformed ids name the field', () => {
  rejects({ group_id: 'g' }, 'missing_field', 'device_id');
  rejects({ device_id: 'd' }, 'missing_field', 'group_id');
  rejects({ device_id: '', group_id: 'g' }, 'invalid_field', 'device_id');
  rejects({ device_id: 'a b', group_id: 'g' }, 'invalid_field', 'device_id');
  rejects({ device_id: 'x'.repeat(65), group_id: 'g' }, 'invalid_field', 'device_id');
  rejects({ device_id: 7, group_id: 'g' }, 'invalid_field', 'device_id');
  rejects({ device_id: 'd', group_id: 'g', seq: -1 }, 'invalid_field', 'seq');
  rejects({ device_id: 'd', group_id: 'g', seq: 1.5 }, 'invalid_field', 'seq');
  rejects({ device_id: 'd', group_id: 'g', boot_id: '../x' }, 'invalid_field', 'boot_id');
  rejects({ device_id: 'd', group_id: 'g', ts: 'yesterday' }, 'invalid_field', 'ts');
});

test('a batch with one bad element is refused whole, naming the index', () => {
  rejects([{ device_id: 'a', group_id: 'g' }, { device_id: 'b' }], 'missing_field', '[1].group_id');
  rejects({ readings: [{ device_id: 'a', group_id: 'g' }, 42] }, 'invalid_reading', 'readings[1]');
  rejects([{ device_id: 'a', group_id: 'g' }, null], 'invalid_reading', '[1]');
  rejects({ readings: 'x' }, 'invalid_field', 'readings');
  rejects([], 'empty_batch', undefined);
  rejects('just a string', 'invalid_reading', undefined);
});

test('batch size, metric count, nesting depth, names and string length are bounded', () => {
  const many = Array.from({ length: limits.max_batch + 1 }, (_, i) => ({ device_id: `d${i}`, group_id: 'g' }));
  rejects(many, 'batch_too_large', undefined);
  const wide: Record<string, unknown> = { device_id: 'd', group_id: 'g' };
  for (let i = 0; i <= limits.max_metrics; i++) wide[`m${i}`] = i;
  rejects(wide, 'too_many_metrics', undefined);
  rejects([{ device_id: 'd', group_id: 'g' }, wide], 'too_many_metrics', '[1]');
  rejects({ device_id: 'd', group_id: 'g', a: { b: { c: { d: 1 } } } }, 'too_deep', 'a.b.c');
  assert.equal(toReadings({ device_id: 'd', group_id: 'g', a: { b: { c: 1 } } }, ctx).length, 1, 'two levels of nesting are fine');
  rejects({ device_id: 'd', group_id: 'g', $where: 1 }, 'invalid_field_name', '$where');
  rejects({ device_id: 'd', group_id: 'g', _rid: 'x' }, 'reserved_field', '_rid');
  rejects([{ device_id: 'd', group_id: 'g' }, { device_id: 'd', group_id: 'g', _t: 1 }], 'reserved_field', '[1]._t');
  rejects({ device_id: 'd', group_id: 'g', 'a.b': 1 }, 'invalid_field_name', 'a.b');
  rejects({ device_id: 'd', group_id: 'g', nested: { $set: 1 } }, 'invalid_field_name', 'nested.$set');
  rejects(JSON.parse('{"device_id":"d","group_id":"g","__proto__":{"x":1}}'), 'invalid_field_name', '__proto__');
  rejects({ device_id: 'd', group_id: 'g', note: 'x'.repeat(limits.max_string_length + 1) }, 'value_too_long', 'note');
});
