import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Logger } from '../log.ts';
import type { Reading } from '../reading.ts';
import type { ImageEntry } from './catalogue.ts';
import type { FirmwareStore } from './image-store.ts';

/** The `firmware` field of an acknowledgement (docs/firmware-updates.md, "The gateway says what the board should run"). */
export interface FirmwareOffer {
  version: string;
  sha256: string;
  size: number;
}

/** What a board reports in its readings' `fw_update`. */
export interface UpdateReport {
  state: 'downloading' | 'failed' | 'updated' | 'rolled_back';
  version: string;
  reason: string | null;
}

const REPORT_STATES = new Set(['downloading', 'failed', 'updated', 'rolled_back']);

/** A reading's `fw_update`, when it is one the protocol defines; anything else is just a metric. */
export function updateReport(doc: Record<string, unknown>): UpdateReport | null {
  const u = doc.fw_update;
  if (typeof u !== 'object' || u === null || Array.isArray(u)) return null;
  const { state, version, reason } = u as Record<string, unknown>;
  if (typeof state !== 'string' || !REPORT_STATES.has(state) || typeof version !== 'string') return null;
  return { state: state as UpdateReport['state'], version, reason: typeof reason === 'string' ? reason : null };
}

/**
 * Which image each board should run, and whether to offer it now.
 *
 * The target of a board of group G: of the images that name G, the newest published; if none
 * names G, the newest published for every board. A paused image stays the target (so nothing
 * older is offered in its place, which would take boards back) but is not offered.
 *
 * `offerFor` is on intake's hot path: one map lookup by group, a string compare, and, only for a
 * board that runs something else, one lookup in the image's refusals.
 */
export class Rollout {
  private byGroup = new Map<string, ImageEntry>();
  private forAll: ImageEntry | null = null;
  private offers = new Map<ImageEntry, FirmwareOffer>();
  /** device → `<state>:<sha256>` of what it last did about an image, to count each failed attempt once. */
  private readonly lastReport = new Map<string, string>();
  private readonly verifying = new Map<string, Promise<boolean>>();

  constructor(private readonly store: FirmwareStore, private readonly maxFailures: () => number, private readonly log: Logger) {
    store.onChange(() => this.recompute());
    this.recompute();
  }

  recompute(): void {
    const byGroup = new Map<string, ImageEntry>();
    let forAll: ImageEntry | null = null;
    const offers = new Map<ImageEntry, FirmwareOffer>();
    for (const e of this.store.images) {
      offers.set(e, { version: e.version, sha256: e.sha256, size: e.size });
      if (e.groups === null) {
        if (!forAll || e.published_seq > forAll.published_seq) forAll = e;
        continue;
      }
      for (const g of e.groups) {
        const had = byGroup.get(g);
        if (!had || e.published_seq > had.published_seq) byGroup.set(g, e);
      }
    }
    this.byGroup = byGroup;
    this.forAll = forAll;
    this.offers = offers;
  }

  /** The image boards of this group should run (paused or not), or null. */
  target(groupId: string): ImageEntry | null {
    return this.byGroup.get(groupId) ?? this.forAll;
  }

  /** The newest image published for every board, or null. */
  allTarget(): ImageEntry | null {
    return this.forAll;
  }

  /** What to add to the acknowledgement of a board that reported running `fw`: null unless it should update. */
  offerFor(deviceId: string, groupId: string, fw: unknown): FirmwareOffer | null {
    if (typeof fw !== 'string') return null; // not the iotgw firmware, or one without updates
    const image = this.byGroup.size === 0 ? this.forAll : (this.byGroup.get(groupId) ?? this.forAll);
    if (image === null || image.version === fw || image.paused || image.damaged) return null;
    if (image.refused[deviceId] !== undefined) return null;
    return this.offers.get(image) ?? null;
  }

  /** The offer for a batch: its last reading is the board's newest, with the firmware it runs now. */
  offerForBatch(readings: readonly Reading[]): FirmwareOffer | null {
    if (this.forAll === null && this.byGroup.size === 0) return null;
    const last = readings[readings.length - 1];
    return this.offerFor(last.device_id, last.group_id, last.doc.fw);
  }

  /**
   * A board found the image's hash wrong: hash the gateway's own copy once (not on every
   * download: up to 1.9 MB read from an SD card per attempt). If the copy rotted, stop offering
   * it to every board at once rather than letting each fail max_failures times. Resolves with
   * whether the copy is intact.
   */
  verify(image: ImageEntry): Promise<boolean> {
    const running = this.verifying.get(image.sha256);
    if (running) return running;
    const check = (async () => {
      const hash = createHash('sha256');
      try {
        for await (const chunk of createReadStream(this.store.pathOf(image.sha256))) hash.update(chunk as Buffer);
      } catch (err) {
        this.markDamaged(image, `the file cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
        return false;
      }
      const actual = hash.digest('hex');
      if (actual === image.sha256) {
        this.log.info({ version: image.version }, `a board reported a SHA-256 mismatch for ${image.version}, but the gateway's copy is intact: the download was damaged on the way`);
        return true;
      }
      this.markDamaged(image, `the gateway's copy has SHA-256 ${actual.slice(0, 12)}…, not the published ${image.sha256.slice(0, 12)}…`);
      return false;
    })().finally(() => this.verifying.delete(image.sha256));
    this.verifying.set(image.sha256, check);
    return check;
  }

  private markDamaged(image: ImageEntry, why: string): void {
    this.store.update(image, (e) => { e.damaged = why; });
    this.log.error({ version: image.version, path: this.store.pathOf(image.sha256) }, `firmware ${image.version} is damaged on the gateway (${why}); no board is offered it: \`iotgw firmware remove ${image.version}\` and add it again`);
  }

  /** The image route started sending an image to a board: a new attempt. */
  downloadStarted(deviceId: string, sha256: string): void {
    this.lastReport.set(deviceId, `downloading:${sha256}`);
  }

  /** Reads the update reports of a durable batch (the observer of intake, after the write). */
  observe(readings: readonly Reading[]): void {
    for (const r of readings) {
      if (r.doc.fw_update === undefined) continue;
      const report = updateReport(r.doc);
      if (report) this.report(r.device_id, report, r.doc.fw);
    }
  }

  private report(deviceId: string, report: UpdateReport, fw: unknown): void {
    const image = this.store.find(report.version);
    if (!image) return;
    const key = `${report.state}:${image.sha256}`;
    const before = this.lastReport.get(deviceId);
    this.lastReport.set(deviceId, key);
    switch (report.state) {
      case 'rolled_back':
        if (image.refused[deviceId] === 'rolled_back') return;
        this.store.update(image, (e) => { e.refused[deviceId] = 'rolled_back'; });
        this.log.warn({ device_id: deviceId, version: image.version }, `device ${deviceId} rolled back from ${image.version}; it is not offered that image again until \`iotgw firmware resume ${image.version}\``);
        return;
      case 'failed': {
        // A board repeats its report until one reading carrying it is acknowledged: count an
        // attempt once, when it follows something else (a download, or nothing yet).
        if (before === key) return;
        const n = (image.failures[deviceId] ?? 0) + 1;
        const refuse = n >= this.maxFailures();
        this.store.update(image, (e) => {
          e.failures[deviceId] = n;
          if (refuse) e.refused[deviceId] = 'failed';
        });
        this.log.warn({ device_id: deviceId, version: image.version, reason: report.reason, failures: n }, refuse
          ? `device ${deviceId} failed to update to ${image.version} ${n} times; it is not offered that image again until \`iotgw firmware resume ${image.version}\``
          : `device ${deviceId} failed to update to ${image.version}`);
        if (report.reason?.includes('sha256')) void this.verify(image);
        return;
      }
      case 'updated':
        // The board runs what it was sent but calls it something else: offering again would
        // update it in a loop. The image was published under the wrong version.
        if (typeof fw === 'string' && fw !== image.version && image.refused[deviceId] === undefined) {
          this.store.update(image, (e) => { e.refused[deviceId] = 'version_mismatch'; });
          this.log.error({ device_id: deviceId, published: image.version, reports: fw }, `device ${deviceId} updated to the image published as ${image.version} but reports fw ${fw}: publish it under the version built into it (IOTGW_FW_VERSION)`);
        }
        return;
      default:
        return;
    }
  }
}
