import { timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import { keyDigest } from '../keys/key-store.ts';

export interface AuthConfig {
  mode: 'none' | 'keys';
  shared_key: string | null;
  device_keys: Record<string, string>;
}

/** What DeviceAuth needs of the key store (`iotgw devices add`): the stored SHA-256 of a device's key. */
export interface KeySource {
  readonly size: number;
  get(deviceId: string): { hash: string; group: string | null } | undefined;
  list(): { device_id: string; hash: string }[];
}

/** Pulls the device key from `Authorization: Bearer <key>` or `X-Device-Key: <key>`. */
export function keyFromHeaders(headers: Record<string, string | string[] | undefined>): string | null {
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim();
  const key = headers['x-device-key'];
  return typeof key === 'string' ? key.trim() : null;
}

/** Constant-time equality of two SHA-256 digests (both always 32 bytes, so lengths leak nothing). */
const same = (a: Buffer, b: Buffer): boolean => timingSafeEqual(a, b);
const storedDigest = (hash: string): Buffer => Buffer.from(hash.slice('sha256:'.length), 'hex');

const unauthorized = (message: string, path?: string): GatewayError => new GatewayError('unauthorized', message, 401, path);

interface Credentials {
  mode: 'none' | 'keys';
  shared: Buffer | null;
  /** device_id → digest of the key given in config.yaml (`ingest.auth.device_keys`). */
  configured: Map<string, Buffer>;
}

/**
 * Who may speak for a device. Keys come from two places that both keep working: the key store in
 * the data dir (`iotgw devices add`, hashed) and `ingest.auth.device_keys`/`shared_key` in
 * config.yaml. A per-device key speaks only for its own device (and its group, when the store
 * entry names one): a stolen key cannot forge another board's data. The shared key speaks for any
 * device.
 *
 * The rule, for each reading: a device that has a key must send it. Without a key, a device is
 * accepted only in the open mode (`ingest.auth.mode: none`, the default, as the original API)
 * and only if no key is registered for it. A key that is sent must be valid, in either mode.
 *
 * Every comparison is of SHA-256 digests with `timingSafeEqual`. `update()` swaps the config's
 * part on reload; the store is read live, so `devices add/revoke` take effect on the next request.
 */
export class DeviceAuth {
  private creds: Credentials;

  constructor(cfg: AuthConfig, private readonly store: KeySource | null = null) {
    this.creds = credentials(cfg);
  }

  /** Applies a reloaded `ingest.auth` section. */
  update(cfg: AuthConfig): void {
    this.creds = credentials(cfg);
  }

  get mode(): 'none' | 'keys' {
    return this.creds.mode;
  }

  get required(): boolean {
    return this.creds.mode === 'keys';
  }

  /** Checked at connection time (WebSocket upgrade, MQTT CONNECT): a key, when sent, must be one we know. */
  checkKnown(key: string | null): void {
    if (key === null || key === '') {
      if (this.required) throw unauthorized('a device key is required (Authorization: Bearer <key>)');
      return;
    }
    const d = keyDigest(key);
    let known = this.creds.shared !== null && same(d, this.creds.shared);
    // Every entry is compared, found or not, so the time taken does not tell which one matched.
    for (const k of this.creds.configured.values()) known = same(d, k) || known;
    for (const e of this.store?.list() ?? []) known = same(d, storedDigest(e.hash)) || known;
    if (!known) throw unauthorized('the device key is not valid');
  }

  /** Every reading must be covered: by the shared key, by its device's key, or (open mode, no key registered) by none. */
  checkReadings(key: string | null, readings: readonly { device_id: string; group_id: string }[]): void {
    const { creds } = this;
    const noKeys = creds.configured.size === 0 && (this.store?.size ?? 0) === 0;
    if (key === null || key === '') {
      if (creds.mode === 'keys') throw unauthorized('a device key is required (Authorization: Bearer <key>)');
      if (noKeys) return;
      for (const r of readings) {
        if (this.hasKey(r.device_id)) throw unauthorized(`device_id "${r.device_id}" has a key and must send it (Authorization: Bearer <key>)`, 'device_id');
      }
      return;
    }
    const d = keyDigest(key);
    if (creds.shared !== null && same(d, creds.shared)) return;
    let checked = '';
    for (const r of readings) {
      const who = `${r.device_id} ${r.group_id}`;
      if (who === checked) continue; // a batch is usually one device's
      this.checkDevice(d, r.device_id, r.group_id);
      checked = who;
    }
  }

  /**
   * Whether `key` may speak for `deviceId` at all (the shared key, or that device's own key),
   * leaving a key's group to be checked per reading: for logins that name a device but no group
   * (MQTT's username).
   */
  speaksFor(key: string, deviceId: string): boolean {
    const d = keyDigest(key);
    if (this.creds.shared !== null && same(d, this.creds.shared)) return true;
    const configured = this.creds.configured.get(deviceId);
    if (configured && same(d, configured)) return true;
    const stored = this.store?.get(deviceId);
    return stored !== undefined && same(d, storedDigest(stored.hash));
  }

  hasKey(deviceId: string): boolean {
    return this.creds.configured.has(deviceId) || this.store?.get(deviceId) !== undefined;
  }

  private checkDevice(d: Buffer, deviceId: string, groupId: string): void {
    const configured = this.creds.configured.get(deviceId);
    if (configured && same(d, configured)) return;
    const stored = this.store?.get(deviceId);
    if (stored && same(d, storedDigest(stored.hash))) {
      if (stored.group !== null && stored.group !== groupId) {
        throw unauthorized(`the key of device_id "${deviceId}" is for group_id "${stored.group}", not "${groupId}"`, 'group_id');
      }
      return;
    }
    throw unauthorized(`the device key is not valid for device_id "${deviceId}"`, 'device_id');
  }
}

function credentials(cfg: AuthConfig): Credentials {
  return {
    mode: cfg.mode,
    shared: cfg.shared_key ? keyDigest(cfg.shared_key) : null,
    configured: new Map(Object.entries(cfg.device_keys).map(([id, k]) => [id, keyDigest(k)])),
  };
}
