import { GatewayError, badField } from '../errors.ts';
import { windowStart, type Reading, type ReadingDoc } from '../reading.ts';
import { receiptIdStem } from './receipt-id.ts';

export interface IntakeLimits {
  max_batch: number;
  max_metrics: number;
  max_depth: number;
  max_string_length: number;
  max_clock_skew_seconds: number;
  max_late_seconds: number;
}

export interface IntakeContext {
  now: number;
  windowMs: number;
  limits: IntakeLimits;
  /** The boards' consensus on how far the gateway's clock is off (device-clocks.ts); 0 by default. */
  clockOffsetMs?: number;
}

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const ID_HINT = 'must be 1-64 characters of A-Z a-z 0-9 . _ : -';
/** Fields the firmware adds or the original sketch sent that are not metrics. */
const ENVELOPE = new Set(['device_id', 'group_id', 'device_type', 'seq', 'boot_id', 'ts']);
/** The gateway sets these, as the original API did; a device's own values are replaced. */
const GATEWAY_FIELDS = new Set(['timestamp', 'status']);
/** Names the uploader adds to each reading in Atlas (`_rid` reading id, `_t` time as a Date) and MongoDB's `_id`. */
const RESERVED = new Set(['_id', '_rid', '_t']);
/** Keys that would be dangerous in a MongoDB document or a JS object. */
const FORBIDDEN_KEY = /^\$|\.|^__proto__$|^constructor$|^prototype$/;

/**
 * Accepts what devices send: one flat reading, a JSON array of them, or `{"readings": [...]}`.
 * Returns the items with the path prefix used in error messages (`[3]`, `readings[3]`).
 */
export function batchItems(body: unknown, maxBatch: number): { items: unknown[]; prefix: (i: number) => string; single: boolean } {
  if (Array.isArray(body)) return checkBatch(body, maxBatch, (i) => `[${i}]`);
  if (isObject(body) && !('device_id' in body) && 'readings' in body) {
    if (!Array.isArray(body.readings)) throw badField('readings', 'must be an array of readings');
    return checkBatch(body.readings, maxBatch, (i) => `readings[${i}]`);
  }
  return { items: [body], prefix: () => '', single: true };
}

function checkBatch(items: unknown[], maxBatch: number, prefix: (i: number) => string) {
  if (items.length === 0) throw new GatewayError('empty_batch', 'the batch contains no readings', 400);
  if (items.length > maxBatch) throw new GatewayError('batch_too_large', `a batch may hold at most ${maxBatch} readings, got ${items.length}`, 413);
  return { items, prefix, single: false };
}

/**
 * Validates every item before any is stored: a batch with one bad element is refused whole, and
 * the error names the element and the field, so the device developer sees exactly what to fix.
 */
export function toReadings(body: unknown, ctx: IntakeContext): Reading[] {
  const { items, prefix } = batchItems(body, ctx.limits.max_batch);
  const readings = new Array<Reading>(items.length);
  // One receive time, one ISO string and one id stem per request, not per reading (the stem only
  // when a reading lacks (boot_id, seq)).
  const receipt: Receipt = { timestamp: new Date(ctx.now).toISOString(), idStem: '' };
  for (let i = 0; i < items.length; i++) readings[i] = toReading(items[i], prefix(i), ctx, receipt, i);
  return readings;
}

/** What every reading of one request shares. */
interface Receipt {
  timestamp: string;
  /** Minted on first use. */
  idStem: string;
}

const join = (prefix: string, key: string): string => (prefix ? `${prefix}.${key}` : key);

function toReading(item: unknown, prefix: string, ctx: IntakeContext, receipt: Receipt, index: number): Reading {
  if (!isObject(item)) {
    throw new GatewayError('invalid_reading', `${prefix || 'body'}: must be a JSON object with device_id and group_id`, 400, prefix || undefined);
  }
  const deviceId = requireId(item, 'device_id', prefix);
  const groupId = requireId(item, 'group_id', prefix);
  if (item.device_type !== undefined && (typeof item.device_type !== 'string' || item.device_type.length > 64)) {
    throw badField(join(prefix, 'device_type'), 'must be a string of at most 64 characters');
  }
  const seq = item.seq;
  if (seq !== undefined && !(typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0)) {
    throw badField(join(prefix, 'seq'), 'must be a non-negative integer');
  }
  const bootId = item.boot_id;
  if (bootId !== undefined && !(typeof bootId === 'string' && ID_PATTERN.test(bootId))) {
    throw badField(join(prefix, 'boot_id'), ID_HINT);
  }
  const ts = item.ts;
  if (ts !== undefined && !(typeof ts === 'number' && Number.isFinite(ts) && ts > 0)) {
    throw badField(join(prefix, 'ts'), 'must be device time in epoch milliseconds');
  }

  let metrics = 0;
  for (const key of Object.keys(item)) {
    if (GATEWAY_FIELDS.has(key) || ENVELOPE.has(key)) continue;
    if (RESERVED.has(key)) throw badField(join(prefix, key), 'is reserved for the gateway; rename the metric', 'reserved_field');
    checkKey(key, prefix);
    if (++metrics > ctx.limits.max_metrics) {
      throw new GatewayError('too_many_metrics', `${prefix || 'reading'}: at most ${ctx.limits.max_metrics} metrics per reading`, 400, prefix || undefined);
    }
    checkValue(item[key], join(prefix, key), 1, ctx.limits);
  }
  const receivedAt = ctx.now;
  // The parsed body is ours alone, so it becomes the document in place (no copy per reading),
  // and a device's own timestamp/status are replaced where they stand, as the original API's
  // dict assignment did.
  const doc = item;
  doc.timestamp = receipt.timestamp;
  doc.status = 'online';

  return {
    id: typeof bootId === 'string' && typeof seq === 'number' ? `dev:${deviceId}/${bootId}/${seq}` : `${(receipt.idStem ||= receiptIdStem(receivedAt))}/${index}`,
    device_id: deviceId,
    group_id: groupId,
    window: windowStart(windowTime(ts as number | undefined, receivedAt, ctx.limits, ctx.clockOffsetMs ?? 0), ctx.windowMs),
    received_at: receivedAt,
    doc: doc as ReadingDoc,
  };
}

/**
 * A device that synced its clock and replays buffered readings after an outage says when they
 * were measured; those readings belong to that hour. A clock that is far ahead, or a time older
 * than we are willing to reopen, is not trusted and the receive time is used. "Ahead" and "older"
 * are measured from the gateway's clock plus the boards' consensus offset (device-clocks.ts).
 */
function windowTime(ts: number | undefined, receivedAt: number, limits: IntakeLimits, clockOffsetMs: number): number {
  if (ts === undefined) return receivedAt;
  // Judged against the gateway's clock as the boards' consensus corrects it (a Pi's clock can be off by hours).
  const reference = receivedAt + clockOffsetMs;
  if (ts > reference + limits.max_clock_skew_seconds * 1000) return receivedAt;
  if (ts < reference - limits.max_late_seconds * 1000) return receivedAt;
  return ts;
}

function requireId(item: Record<string, unknown>, field: string, prefix: string): string {
  const value = item[field];
  const path = join(prefix, field);
  if (value === undefined || value === null) throw badField(path, 'is required', 'missing_field');
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) throw badField(path, ID_HINT);
  return value;
}

function checkKey(key: string, path: string): void {
  if (key.length === 0 || key.length > 64 || FORBIDDEN_KEY.test(key)) {
    throw badField(join(path, key), 'field names must be 1-64 characters, not start with $ and not contain .', 'invalid_field_name');
  }
}

function checkValue(value: unknown, path: string, depth: number, limits: IntakeLimits): void {
  switch (typeof value) {
    case 'number':
    case 'boolean':
      return;
    case 'string':
      if (value.length > limits.max_string_length) throw badField(path, `must be at most ${limits.max_string_length} characters`, 'value_too_long');
      return;
    case 'object': {
      if (value === null) return;
      if (depth >= limits.max_depth) throw badField(path, `nesting deeper than ${limits.max_depth} levels`, 'too_deep');
      if (Array.isArray(value)) {
        if (value.length > limits.max_metrics) throw badField(path, `arrays may hold at most ${limits.max_metrics} items`, 'too_many_metrics');
        value.forEach((v, i) => checkValue(v, `${path}[${i}]`, depth + 1, limits));
        return;
      }
      const keys = Object.keys(value);
      if (keys.length > limits.max_metrics) throw badField(path, `nested objects may hold at most ${limits.max_metrics} fields`, 'too_many_metrics');
      for (const k of keys) {
        checkKey(k, path);
        checkValue((value as Record<string, unknown>)[k], `${path}.${k}`, depth + 1, limits);
      }
      return;
    }
    default:
      throw badField(path, `unsupported value of type ${typeof value}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
