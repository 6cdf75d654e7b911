import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Why a board is not offered an image again: it rolled back, it failed max_failures times, or it runs another version than it was offered after updating (the image was published under a version it does not report). */
export type RefusalReason = 'rolled_back' | 'failed' | 'version_mismatch';

/** One published image and its rollout. */
export interface ImageEntry {
  version: string;
  sha256: string;
  size: number;
  /** Named groups, or null for every board. */
  groups: string[] | null;
  paused: boolean;
  /** ISO time of `iotgw firmware add`. */
  added_at: string;
  /** Order of publication: of the images that target the same boards, the newest-published is their target. */
  published_seq: number;
  /**
   * Boards not to offer this image to again, and why (`rolled_back`, or `failed` max_failures
   * times). Cleared by `resume` (and a new `add` is a new entry, so a fresh list).
   */
  refused: Record<string, RefusalReason>;
  /** Failed attempts per board, counted once per download attempt (rollout.ts). */
  failures: Record<string, number>;
  /**
   * Set when a board reported a SHA-256 mismatch and the gateway's own copy no longer has the
   * published hash (rotted on the card): offered to no board until it is removed and added again.
   */
  damaged?: string | null;
}

export interface Catalogue {
  images: ImageEntry[];
  next_seq: number;
}

export const firmwareDir = (dataDir: string): string => join(dataDir, 'firmware');
export const cataloguePath = (dataDir: string): string => join(firmwareDir(dataDir), 'catalogue.json');
export const imagePath = (dataDir: string, sha256: string): string => join(firmwareDir(dataDir), `${sha256}.bin`);

/** The catalogue file broken: a named error (the CLI prints it, the daemon refuses to start). */
export class CatalogueError extends Error {
  readonly code = 'firmware_catalogue_invalid';
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'CatalogueError';
  }
}

export function loadCatalogue(dataDir: string): Catalogue {
  const path = cataloguePath(dataDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { images: [], next_seq: 1 };
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CatalogueError(path, `not valid JSON (${(err as Error).message})`);
  }
  const c = parsed as Partial<Catalogue>;
  if (!c || !Array.isArray(c.images) || typeof c.next_seq !== 'number') throw new CatalogueError(path, 'not a firmware catalogue (images[], next_seq)');
  for (const [i, e] of c.images.entries()) {
    if (typeof e?.version !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256) || typeof e.size !== 'number') throw new CatalogueError(path, `images[${i}] is malformed`);
    e.refused ??= {};
    e.failures ??= {};
    e.groups ??= null;
    e.paused = e.paused === true;
    e.damaged = typeof e.damaged === 'string' ? e.damaged : null;
  }
  return c as Catalogue;
}

/**
 * Written whole to a temporary file, fsynced, then renamed over the old one: a crash leaves the
 * old catalogue or the new one, never half of either.
 */
export function saveCatalogue(dataDir: string, c: Catalogue): void {
  const path = cataloguePath(dataDir);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, `${JSON.stringify(c, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dirFd = openSync(dirname(path), 'r');
  try { fsyncSync(dirFd); } finally { closeSync(dirFd); }
}
