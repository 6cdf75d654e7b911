import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, openSync, readSync, closeSync, fstatSync, renameSync, rmSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { GatewayError } from '../errors.ts';
import { checkImage, OTA_SLOT_BYTES } from './image-header.ts';
import { validGroup, validVersion, VERSION_MAX } from './version.ts';
import { firmwareDir, imagePath, loadCatalogue, saveCatalogue, type Catalogue, type ImageEntry } from './catalogue.ts';

export interface AddImage {
  file: string;
  version: string;
  /** Empty or absent: every board. */
  groups?: string[] | null;
}

/**
 * The published images: `<data_dir>/firmware/<sha256>.bin` plus `catalogue.json`. Every change
 * is written at once (atomically) and then announced to `onChange` (the rollout recomputes its
 * targets). The daemon holds one instance; the CLI makes its own when no daemon runs.
 */
export class FirmwareStore {
  private catalogue: Catalogue;
  private listeners: (() => void)[] = [];

  /** `maxImageBytes`: `firmware.max_image_bytes`, read at each add (a reload changes it). */
  constructor(readonly dataDir: string, private readonly maxImageBytes: () => number = () => OTA_SLOT_BYTES) {
    this.catalogue = loadCatalogue(dataDir);
  }

  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  get images(): readonly ImageEntry[] {
    return this.catalogue.images;
  }

  find(version: string): ImageEntry | undefined {
    return this.catalogue.images.find((e) => e.version === version);
  }

  bySha(sha256: string): ImageEntry | undefined {
    return this.catalogue.images.find((e) => e.sha256 === sha256);
  }

  pathOf(sha256: string): string {
    return imagePath(this.dataDir, sha256);
  }

  /**
   * Validates, copies under its SHA-256 (hashing while copying), then records it. `warnings`:
   * what looks wrong but may be right (the version's text is not in the image).
   */
  async add(req: AddImage): Promise<ImageEntry & { warnings: string[] }> {
    if (!validVersion(req.version)) {
      throw new GatewayError('invalid_version', `version: "${String(req.version)}" is not a semantic version of at most ${VERSION_MAX} characters (e.g. 0.2.0), as the board's IOTGW_FW_VERSION`, 400, 'version');
    }
    const groups = [...new Set(req.groups ?? [])];
    for (const g of groups) if (!validGroup(g)) throw new GatewayError('invalid_group', `group: "${g}" must be 1-64 characters of A-Z a-z 0-9 . _ : -, as the boards' group_id`, 400, 'group');
    const dup = this.find(req.version);
    if (dup) throw new GatewayError('duplicate_version', `version ${req.version} is already published (sha256 ${dup.sha256.slice(0, 12)}…, added ${dup.added_at}): remove it first (iotgw firmware remove ${req.version}) or give the new image its own version`, 409, 'version');

    const { size, head } = readHead(req.file);
    checkImage(head, size, this.maxImageBytes());
    const dir = firmwareDir(this.dataDir);
    mkdirSync(dir, { recursive: true });
    const tmp = `${dir}/.incoming.${process.pid}.${Date.now()}`;
    const hash = createHash('sha256');
    let copied = 0;
    // IOTGW_FW_VERSION is a string literal in the image's read-only data: a version whose text is
    // nowhere in the file is most likely the wrong --version (boards would report another one).
    const needle = Buffer.from(req.version, 'latin1');
    let tail = Buffer.alloc(0);
    let versionFound = false;
    try {
      await pipeline(
        createReadStream(req.file),
        new Transform({
          transform(chunk: Buffer, _enc, done) {
            hash.update(chunk);
            copied += chunk.length;
            if (!versionFound) {
              const window = Buffer.concat([tail, chunk]);
              versionFound = window.includes(needle);
              tail = window.subarray(Math.max(0, window.length - needle.length + 1));
            }
            done(null, chunk);
          },
        }),
        createWriteStream(tmp, { flags: 'wx', mode: 0o644, flush: true }),
      );
      if (copied !== size) throw new GatewayError('image_changed', `file: ${req.file} changed while it was read (${size} bytes, then ${copied}); try again`, 409, 'file');
      const sha256 = hash.digest('hex');
      const same = this.bySha(sha256);
      if (same) throw new GatewayError('duplicate_image', `file: this image is already published as version ${same.version}; a board reports the version built into it, so one image cannot be two versions`, 409, 'file');
      const final = this.pathOf(sha256);
      if (existsSync(final) && statSync(final).size === size) rmSync(tmp);
      else renameSync(tmp, final);
      const entry: ImageEntry = {
        version: req.version, sha256, size, groups: groups.length > 0 ? groups.sort() : null, paused: false,
        added_at: new Date().toISOString(), published_seq: this.catalogue.next_seq, refused: {}, failures: {}, damaged: null,
      };
      this.commit((c) => {
        c.images.push(entry);
        c.next_seq++;
      });
      const warnings = versionFound ? [] : [`the image does not contain the text "${req.version}": is --version the IOTGW_FW_VERSION it was built with? A board that updates to it reports the version built in; if that differs, it is not offered the image again (iotgw firmware list shows version_mismatch)`];
      return { ...entry, warnings };
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /** Takes the image off the gateway: no more offers, and its file is deleted. */
  remove(version: string): ImageEntry {
    const entry = this.require(version);
    this.commit((c) => { c.images = c.images.filter((e) => e !== entry); });
    rmSync(this.pathOf(entry.sha256), { force: true });
    return entry;
  }

  pause(version: string): ImageEntry {
    const entry = this.require(version);
    this.commit(() => { entry.paused = true; });
    return entry;
  }

  /** Offers again, also to the boards that rolled back or kept failing (the operator decided). */
  resume(version: string): ImageEntry {
    const entry = this.require(version);
    this.commit(() => {
      entry.paused = false;
      entry.refused = {};
      entry.failures = {};
    });
    return entry;
  }

  /** A change of one entry's bookkeeping (refusals, failure counts) by the rollout. */
  update(entry: ImageEntry, change: (e: ImageEntry) => void): void {
    if (!this.catalogue.images.includes(entry)) return;
    this.commit(() => change(entry));
  }

  private require(version: string): ImageEntry {
    const entry = this.find(version);
    if (!entry) {
      const known = this.catalogue.images.map((e) => e.version).join(', ') || 'none';
      throw new GatewayError('unknown_version', `version ${version} is not published (published: ${known})`, 404, 'version');
    }
    return entry;
  }

  /** Applies a change to a copy, writes it, and only then makes it the live catalogue. */
  private commit(change: (c: Catalogue) => void): void {
    const before = structuredClone(this.catalogue);
    change(this.catalogue);
    try {
      saveCatalogue(this.dataDir, this.catalogue);
    } catch (err) {
      this.catalogue = before;
      throw err;
    }
    for (const fn of this.listeners) fn();
  }
}

/** Size and first bytes of the file to publish, with errors that name it. */
function readHead(file: string): { size: number; head: Buffer } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new GatewayError('file_not_found', `file: ${file} does not exist`, 400, 'file');
    if (code === 'EACCES') throw new GatewayError('file_unreadable', `file: ${file} cannot be read by the process that publishes it (uid ${process.getuid?.()}): make it readable, or copy it somewhere it can read`, 400, 'file');
    if (code === 'EISDIR') throw new GatewayError('not_an_image', `file: ${file} is a directory`, 400, 'file');
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new GatewayError('not_an_image', `file: ${file} is not a regular file`, 400, 'file');
    const head = Buffer.alloc(32);
    const n = readSync(fd, head, 0, head.length, 0);
    return { size: st.size, head: head.subarray(0, n) };
  } finally {
    closeSync(fd);
  }
}
