import { GatewayError } from '../errors.ts';
import type { AuthConfig } from '../ingest/auth.ts';
import { fingerprint, keyDigest, type KeyStore, type StoredKey } from './key-store.ts';

/** One line of `iotgw devices list`. */
export interface KeyListing {
  device_id: string;
  group: string | null;
  created_at: string | null;
  /** `store`: made with `iotgw devices add`; `config`: `ingest.auth.device_keys` in config.yaml. */
  source: 'store' | 'config';
  fingerprint: string;
}

export interface KeyReport {
  mode: 'none' | 'keys';
  shared_key: boolean;
  keys: KeyListing[];
}

/**
 * The three key commands, the same whether the daemon runs them (admin socket, so the change is
 * live) or the CLI runs them on the data dir itself (no daemon: the change applies at its start).
 */
export class KeyCommands {
  constructor(private readonly store: KeyStore, private readonly auth: () => AuthConfig) {}

  add(args: Record<string, unknown>): { key: string; entry: StoredKey } {
    const deviceId = requireString(args.device_id, 'device_id');
    const group = args.group === undefined || args.group === null ? null : requireString(args.group, 'group');
    return this.store.add(deviceId, { group, replace: args.replace === true });
  }

  revoke(args: Record<string, unknown>): { entry: StoredKey } {
    const deviceId = requireString(args.device_id, 'device_id');
    if (!this.store.get(deviceId) && deviceId in this.auth().device_keys) {
      throw new GatewayError('in_config', `the key of "${deviceId}" is in config.yaml (ingest.auth.device_keys): remove it there, then reload (systemctl reload iotgw)`, 409);
    }
    return { entry: this.store.revoke(deviceId) };
  }

  list(): KeyReport {
    const cfg = this.auth();
    const keys: KeyListing[] = this.store.list().map((e) => ({ device_id: e.device_id, group: e.group, created_at: e.created_at, source: 'store', fingerprint: fingerprint(e) }));
    for (const [id, key] of Object.entries(cfg.device_keys)) {
      keys.push({ device_id: id, group: null, created_at: null, source: 'config', fingerprint: keyDigest(key).toString('hex').slice(0, 12) });
    }
    keys.sort((a, b) => a.device_id.localeCompare(b.device_id) || a.source.localeCompare(b.source));
    return { mode: cfg.mode, shared_key: cfg.shared_key !== null, keys };
  }
}

function requireString(v: unknown, name: string): string {
  if (typeof v !== 'string' || v === '') throw new GatewayError('invalid_field', `${name}: is required`, 400, name);
  return v;
}
