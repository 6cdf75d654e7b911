import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, chownSync, writeSync, unlinkSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { GatewayError } from '../errors.ts';

/** One device's key as stored: never the key itself, only its SHA-256. */
export interface StoredKey {
  device_id: string;
  /** `sha256:<hex>` of the key. */
  hash: string;
  /** When set, the key speaks for this device only with this group_id. */
  group: string | null;
  created_at: string;
}

interface KeyFile {
  version: 1;
  devices: Record<string, Omit<StoredKey, 'device_id'>>;
}

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
export const KEYS_FILE = 'device-keys.json';
export const keysFilePath = (dataDir: string): string => join(dataDir, KEYS_FILE);

/** SHA-256 of a key, the form the store keeps and the comparison uses. */
export const keyDigest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();
const digestText = (key: string): string => `sha256:${keyDigest(key).toString('hex')}`;

/**
 * The device keys an installer manages with `iotgw devices add|list|revoke`, in
 * `<data_dir>/device-keys.json` (mode 0600, owned by the daemon's user). Keys are 256 random bits,
 * shown once when made; the file keeps only their SHA-256. A fast hash is enough for keys of that
 * strength (nobody can search 2^256 preimages; a salt or a slow KDF only matters for keys people
 * choose), and it keeps the per-request check at one hash.
 *
 * Writes are atomic (a temp file, fsync, rename, fsync of the directory), so a power cut leaves
 * the old file or the new one. The daemon is the only writer while it runs (the CLI asks it
 * through the admin socket); without a daemon the CLI writes here itself.
 */
export class KeyStore {
  private entries = new Map<string, StoredKey>();

  constructor(readonly path: string) {}

  /** Reads the file; a missing file is an empty store. A broken one is an error that names the file. */
  load(): this {
    this.entries = readKeys(this.path);
    return this;
  }

  get size(): number {
    return this.entries.size;
  }

  get(deviceId: string): StoredKey | undefined {
    return this.entries.get(deviceId);
  }

  list(): StoredKey[] {
    return [...this.entries.values()].sort((a, b) => a.device_id.localeCompare(b.device_id));
  }

  /** Makes a new random key for the device and returns it; this is the only time it exists in clear. */
  add(deviceId: string, opts: { group?: string | null; replace?: boolean } = {}): { key: string; entry: StoredKey } {
    if (!ID_PATTERN.test(deviceId)) throw new GatewayError('invalid_field', 'device_id: must be 1-64 characters of A-Z a-z 0-9 . _ : -', 400, 'device_id');
    const group = opts.group ?? null;
    if (group !== null && !ID_PATTERN.test(group)) throw new GatewayError('invalid_field', 'group: must be 1-64 characters of A-Z a-z 0-9 . _ : -', 400, 'group');
    // Re-read first: another writer (a CLI run while no daemon ran) may have changed the file.
    const next = readKeys(this.path);
    if (next.has(deviceId) && !opts.replace) {
      throw new GatewayError('key_exists', `device "${deviceId}" already has a key; revoke it first, or add --replace to make a new one`, 409);
    }
    const key = randomBytes(32).toString('base64url');
    const entry: StoredKey = { device_id: deviceId, hash: digestText(key), group, created_at: new Date().toISOString() };
    next.set(deviceId, entry);
    writeKeys(this.path, next);
    this.entries = next;
    return { key, entry };
  }

  /** Removes the device's key; returns the removed entry. */
  revoke(deviceId: string): StoredKey {
    const next = readKeys(this.path);
    const entry = next.get(deviceId);
    if (!entry) throw new GatewayError('not_found', `device "${deviceId}" has no key in ${this.path}`, 404);
    next.delete(deviceId);
    writeKeys(this.path, next);
    this.entries = next;
    return entry;
  }
}

/** A short, non-secret name of a stored key for `devices list` (the first 12 hex digits of its hash). */
export const fingerprint = (entry: Pick<StoredKey, 'hash'>): string => entry.hash.slice('sha256:'.length, 'sha256:'.length + 12);

function readKeys(path: string): Map<string, StoredKey> {
  if (!existsSync(path)) return new Map();
  let parsed: KeyFile;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
  } catch (err) {
    throw new KeyFileError(path, `cannot read it: ${(err as Error).message.split('\n')[0]}`);
  }
  if (parsed?.version !== 1 || typeof parsed.devices !== 'object' || parsed.devices === null) throw new KeyFileError(path, 'is not a version 1 device key file');
  const out = new Map<string, StoredKey>();
  for (const [id, e] of Object.entries(parsed.devices)) {
    if (!ID_PATTERN.test(id) || typeof e?.hash !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(e.hash)) throw new KeyFileError(path, `devices.${id}: is not a valid entry`);
    out.set(id, { device_id: id, hash: e.hash, group: typeof e.group === 'string' ? e.group : null, created_at: String(e.created_at ?? '') });
  }
  return out;
}

function writeKeys(path: string, entries: Map<string, StoredKey>): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const file: KeyFile = { version: 1, devices: {} };
  for (const e of [...entries.values()].sort((a, b) => a.device_id.localeCompare(b.device_id))) {
    file.devices[e.device_id] = { hash: e.hash, group: e.group, created_at: e.created_at };
  }
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(file, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // root writing while no daemon runs (`sudo iotgw devices add`): the daemon's user must still read it.
  if (process.getuid?.() === 0) {
    try {
      const owner = statSync(dir);
      chownSync(tmp, owner.uid, owner.gid);
    } catch {
      // best effort: a daemon that cannot read the file then fails to start, naming it
    }
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* gone */ }
    throw err;
  }
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** The key file is unreadable or malformed: the daemon refuses to start on it (exit 78) and a reload keeps the old keys. */
export class KeyFileError extends Error {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'KeyFileError';
  }
}
