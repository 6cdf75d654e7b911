import { timingSafeEqual, createHash } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import type { Reading } from '../reading.ts';

export interface AuthConfig {
  mode: 'none' | 'keys';
  shared_key: string | null;
  device_keys: Record<string, string>;
}

/** Pulls the device key from `Authorization: Bearer <key>` or `X-Device-Key: <key>`. */
export function keyFromHeaders(headers: Record<string, string | string[] | undefined>): string | null {
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim();
  const key = headers['x-device-key'];
  return typeof key === 'string' ? key.trim() : null;
}

// Hashing first makes the comparison constant-time regardless of the lengths involved.
const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
const sameKey = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b));

/**
 * Device keys: a per-device key may only speak for its own device (a stolen key cannot forge
 * another board's data); the shared key, for small sites, may speak for any device.
 */
export class DeviceAuth {
  constructor(private readonly cfg: AuthConfig) {}

  get required(): boolean {
    return this.cfg.mode === 'keys';
  }

  /** Checked at connection time (WebSocket upgrade) and per request: is the key known at all? */
  checkKnown(key: string | null): void {
    if (!this.required) return;
    if (!key) throw new GatewayError('unauthorized', 'a device key is required (Authorization: Bearer <key>)', 401);
    if (this.cfg.shared_key && sameKey(key, this.cfg.shared_key)) return;
    for (const k of Object.values(this.cfg.device_keys)) if (sameKey(key, k)) return;
    throw new GatewayError('unauthorized', 'the device key is not valid', 401);
  }

  /** Every reading must be covered by the key: the shared key, or the key of that device. */
  checkReadings(key: string | null, readings: Reading[]): void {
    if (!this.required) return;
    if (!key) throw new GatewayError('unauthorized', 'a device key is required (Authorization: Bearer <key>)', 401);
    if (this.cfg.shared_key && sameKey(key, this.cfg.shared_key)) return;
    for (const r of readings) {
      const expected = this.cfg.device_keys[r.device_id];
      if (!expected || !sameKey(key, expected)) {
        throw new GatewayError('unauthorized', `the device key is not valid for device_id "${r.device_id}"`, 401);
      }
    }
  }
}
