import type { Logger } from '../log.ts';
import { AtlasClient } from './atlas.ts';
import { Manifest } from './manifest.ts';
import { createUploadMetrics, type UploadMetrics } from './metrics.ts';
import { backoffMs, FailureLog } from './backoff.ts';
import { classify, type UploadFailure } from './errors.ts';
import { UploadLock } from './lock.ts';
import { Abandoned, TransientUploadError, type WindowReport, type WindowUploadContext } from './window-upload.ts';
import { dueWindows, uploadWindow } from './window-targets.ts';
import { Quarantine } from './quarantine.ts';
import { retryQuarantined, type QuarantineRetryReport } from './quarantine-retry.ts';
import { UplinkMeter, UplinkStore } from './uplink.ts';
import type { UploaderOptions, UploadReport, UploadStatus } from './uploader-types.ts';

export type { UploadBuffer, UploadConfig, UploaderOptions, UploadReport, UploadStatus } from './uploader-types.ts';

/**
 * Runs upload passes: every closed window of either store goes to Atlas (window-upload.ts), with
 * a pass every `upload.interval_seconds` (and right after a window closes, when that is sooner),
 * exponential backoff with jitter after a failure, and manifests left by a crash finished first.
 */
export class Uploader {
  readonly atlas: AtlasClient;
  readonly metrics: UploadMetrics;
  private readonly manifest: Manifest | null;
  private readonly quarantine: Quarantine | null;
  private readonly lock: UploadLock | null;
  /** Built with the tables (migrate): the measured rate is kept in the buffer's file. */
  private uplink: UplinkMeter | null = null;
  private readonly log: Logger;
  private readonly windowMs: number;
  private readonly failures: FailureLog;
  private readonly storeFailures: FailureLog;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<UploadReport> | null = null;
  /** Passes and quarantine retries run one at a time, in the order asked for. */
  private serial: Promise<unknown> = Promise.resolve();
  private stopping = false;
  private started = false;
  private failStreak = 0;
  private nextPassAt: number | null = null;
  private lastSuccess: number | null = null;
  private lastError: { at: string; kind: string; reason: string } | null = null;
  private queue = { windows: 0, bytes: 0, readings: 0, at: 0 };
  private quarantined = { parts: 0, readings: 0 };
  private refreshing: Promise<void> | null = null;
  private readonly bugsSeen = new Set<string>();

  constructor(private readonly opts: UploaderOptions) {
    const { config } = opts;
    this.log = opts.log.child({ component: 'upload' });
    this.now = opts.now ?? Date.now;
    this.windowMs = config.window_seconds * 1000;
    this.metrics = createUploadMetrics(opts.metrics.registry);
    this.failures = new FailureLog(this.log, 5 * 60_000, this.now);
    this.storeFailures = new FailureLog(this.log, 5 * 60_000, this.now);
    this.atlas = opts.atlas ?? new AtlasClient({
      uri: config.mongodb.uri, database: config.mongodb.database, log: this.log,
      connectTimeoutMs: config.mongodb.connect_timeout_ms, serverSelectionTimeoutMs: config.mongodb.server_selection_timeout_ms, socketTimeoutMs: config.mongodb.socket_timeout_ms,
      appName: `iotgw/${config.gateway_id}`,
    });
    const db = opts.db ?? opts.buffer.stores.sqlite.db;
    // A handle of the caller's own is durable on its own terms; the buffer's needs its store's sync.
    this.manifest = db ? new Manifest(db, opts.db ? undefined : () => opts.buffer.stores.sqlite.sync()) : null;
    this.quarantine = db ? new Quarantine(db) : null;
    const lockPath = opts.lockPath !== undefined ? opts.lockPath : config.sqlite?.path ? `${config.sqlite.path}.upload.lock` : null;
    this.lock = lockPath ? new UploadLock(lockPath) : null;
  }

  get enabled(): boolean {
    return this.atlas.configured;
  }

  /** Creates the manifest tables, starts connecting in the background and schedules passes. Never waits for Atlas. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (!this.enabled) {
      this.metrics.atlasUp.set(-1);
      this.log.warn('upload disabled: mongodb.uri is not set; readings stay in the local buffer until it is configured');
      void this.refreshQueue();
      return;
    }
    this.migrate();
    this.atlas.start();
    this.schedule(Math.min(2000, this.opts.config.upload.interval_seconds * 1000));
  }

  private migrated = false;
  private migrate(): void {
    if (this.migrated) return;
    if (!this.manifest) throw new Error('Uploader needs the SQLite handle of the buffer (buffer.stores.sqlite.db or options.db)');
    this.manifest.migrate();
    this.quarantine!.migrate();
    const db = this.opts.db ?? this.opts.buffer.stores.sqlite.db!;
    const store = new UplinkStore(db);
    store.migrate();
    const { config } = this.opts;
    this.uplink = new UplinkMeter({ floorMs: config.mongodb.socket_timeout_ms, maxPartBytes: config.upload.part_max_bytes }, store);
    this.migrated = true;
  }

  /**
   * Stops scheduling, lets a running pass finish its current window for up to `graceMs`, then
   * closes the Atlas client (an in-flight write fails and stays queued: its manifest is replayed
   * at the next start). Safe at any point by construction, see window-upload.ts.
   */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.nextPassAt = null;
    const running = this.running;
    if (running) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([running.catch(() => {}), new Promise((r) => { t = setTimeout(r, graceMs); })]);
      clearTimeout(t);
    }
    await this.atlas.stop();
    if (running) await running.catch(() => {});
    this.lock?.release();
  }

  /** One pass now (or the one already running). Never throws: the report says what happened. */
  runOnce(): Promise<UploadReport> {
    if (this.running) return this.running;
    this.running = this.inTurn(() => this.pass()).finally(() => { this.running = null; });
    return this.running;
  }

  /**
   * Sends every quarantined part to Atlas again (after the operator fixed what made Atlas refuse
   * it): `iotgw upload --retry-quarantine`. Never throws: the report says what happened.
   */
  retryQuarantine(): Promise<QuarantineRetryReport> {
    return this.inTurn(async () => {
      const report: QuarantineRetryReport = { enabled: this.enabled, ok: true, parts: [], uploaded: { parts: 0, readings: 0 }, remaining: { parts: 0, readings: 0 }, error: null };
      const fail = (f: UploadFailure): QuarantineRetryReport => {
        report.ok = false;
        report.error = { ...f, at: new Date(this.now()).toISOString() };
        return report;
      };
      try {
        const blocked = await this.prepare();
        if (blocked) return fail(blocked);
        if (!this.enabled || !this.manifest) return report;
        Object.assign(report, await retryQuarantined(this.context(), report));
        this.metrics.documents.inc(report.uploaded.parts);
        if (report.error) this.metrics.errors.inc({ kind: report.error.kind });
        return report;
      } catch (err) {
        return fail(classify(err));
      } finally {
        this.refreshQuarantine();
      }
    });
  }

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const turn = this.serial.then(fn, fn);
    this.serial = turn.catch(() => undefined);
    return turn;
  }

  /**
   * What every pass and retry needs first: the manifest tables, the lock against a second
   * uploading process, and Atlas. Returns the failure that stops it, or null.
   */
  private async prepare(): Promise<UploadFailure | null> {
    if (!this.enabled || !this.manifest || this.stopping) return null;
    this.migrate();
    const holder = this.lock?.acquire() ?? null;
    if (holder !== null) {
      const f: UploadFailure = { kind: 'transient', scope: 'global', reason: `another iotgw process (pid ${holder}) is uploading from this buffer` };
      this.failures.failed('upload skipped', f);
      return f;
    }
    try {
      this.fitSocketTimeout();
      await this.atlas.ready({ applyTimeout: true });
      return null;
    } catch (err) {
      const f = classify(err);
      this.failures.failed('Atlas unreachable, closed windows stay queued', f);
      this.metrics.atlasUp.set(0);
      return f;
    }
  }

  status(): UploadStatus {
    if (this.now() - this.queue.at > 5000) void this.refreshQueue();
    return {
      enabled: this.enabled,
      atlas: this.atlas.state,
      last_success: this.lastSuccess !== null ? new Date(this.lastSuccess).toISOString() : null,
      last_error: this.lastError,
      queued_windows: this.queue.windows,
      queued_bytes: this.queue.bytes,
      queued_readings: this.queue.readings,
      in_progress: this.running !== null,
      next_pass: this.nextPassAt !== null ? new Date(this.nextPassAt).toISOString() : null,
      quarantine: { ...this.quarantined },
      uplink: { bytes_per_second: this.uplink?.bytesPerSecond ?? null, part_bytes: this.partBytes(), socket_timeout_ms: this.atlas.currentSocketTimeoutMs || this.opts.config.mongodb.socket_timeout_ms },
    };
  }

  /** The part size for windows begun now (uplink.ts). */
  private partBytes(): number {
    return this.uplink?.partBytes() ?? this.opts.config.upload.part_max_bytes;
  }

  /** Asks the Atlas client for the socket timeout the largest part in play needs on the measured uplink. */
  private fitSocketTimeout(): void {
    if (!this.uplink || !this.manifest) return;
    const parts = [this.partBytes(), ...this.manifest.all().map((m) => m.part_bytes ?? this.opts.config.upload.part_max_bytes)];
    this.atlas.setSocketTimeout(this.uplink.socketTimeoutMs(Math.max(...parts)));
    this.metrics.uplinkBytesPerSecond.set(this.uplink.bytesPerSecond ?? 0);
  }

  /** Measures the uplink from a write (see uplink.ts); a failure that took the whole socket timeout is a timeout. */
  private onWrite(bytes: number, ms: number, ok: boolean): void {
    if (!this.uplink) return;
    if (ok) this.uplink.observe(bytes, ms);
    else if (this.atlas.currentSocketTimeoutMs > 0 && ms >= 0.9 * this.atlas.currentSocketTimeoutMs) this.uplink.timedOut(bytes, ms);
  }

  /** Re-reads the quarantine's size (a count over a small table) into the status and gauges. */
  private refreshQuarantine(): void {
    if (!this.quarantine) return;
    try {
      this.migrate();
      this.quarantined = this.quarantine.summary();
    } catch (err) {
      this.log.debug({ reason: classify(err).reason }, 'could not read the upload quarantine');
      return;
    }
    this.metrics.quarantineParts.set(this.quarantined.parts);
    this.metrics.quarantineReadings.set(this.quarantined.readings);
  }

  /** Recomputes the queued-window figures (closed windows in either store). */
  refreshQueue(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        this.refreshQuarantine();
        const list = await this.opts.buffer.listWindows();
        this.setQueue(list);
      } catch (err) {
        this.log.debug({ reason: classify(err).reason }, 'could not list buffered windows');
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private setQueue(list: { window: number; count: number; bytes: number }[]): void {
    const now = this.now();
    const closed = list.filter((w) => w.window + this.windowMs <= now);
    this.queue = { windows: new Set(closed.map((w) => w.window)).size, bytes: sum(closed, 'bytes'), readings: sum(closed, 'count'), at: now };
    this.metrics.queuedWindows.set(this.queue.windows);
    this.metrics.queuedBytes.set(this.queue.bytes);
    this.metrics.queuedReadings.set(this.queue.readings);
  }

  private schedule(delayMs: number): void {
    if (this.stopping) return;
    if (this.timer) clearTimeout(this.timer);
    this.nextPassAt = this.now() + delayMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runOnce().then((report) => {
        if (report.error) {
          this.failStreak++;
          const { retry_base_ms, retry_max_ms } = this.opts.config.upload;
          this.schedule(backoffMs(this.failStreak - 1, retry_base_ms, retry_max_ms));
        } else {
          this.failStreak = 0;
          this.schedule(this.regularDelay());
        }
      });
    }, delayMs);
    this.timer.unref();
  }

  /** Every interval, or just after the current window closes when that comes first. */
  private regularDelay(): number {
    const now = this.now();
    const interval = this.opts.config.upload.interval_seconds * 1000;
    const grace = Math.min(5000, Math.floor(this.windowMs / 4));
    const nextClose = Math.floor(now / this.windowMs) * this.windowMs + this.windowMs + grace;
    return Math.max(100, Math.min(interval, nextClose - now));
  }

  private context(): WindowUploadContext {
    const { config } = this.opts;
    return {
      gatewayId: config.gateway_id, windowMs: this.windowMs, partMaxBytes: this.partBytes(), readPage: config.upload.read_page,
      log: this.log, manifest: this.manifest!, quarantine: this.quarantine!, now: this.now,
      groupHours: () => this.atlas.groupHours(), deviceGroups: () => this.atlas.deviceGroups(),
      store: (kind) => {
        const s = kind === 'redis' ? this.opts.buffer.stores.redis : this.opts.buffer.stores.sqlite;
        if (!s) throw new Error(`the ${kind} store is not configured`);
        return s;
      },
      stopping: () => this.stopping,
      onPartsAcked: (n) => this.metrics.documents.inc(n),
      onWrite: (bytes, ms, ok) => this.onWrite(bytes, ms, ok),
    };
  }

  private async pass(): Promise<UploadReport> {
    const started = this.now();
    const report: UploadReport = { enabled: this.enabled, ok: true, started_at: new Date(started).toISOString(), finished_at: '', windows: [], skipped: [], readings: 0, parts: 0, error: null };
    const fail = (f: UploadFailure): void => {
      report.ok = false;
      report.error = { ...f, at: new Date(this.now()).toISOString() };
      this.lastError = { at: report.error.at, kind: f.kind, reason: f.reason };
      this.metrics.errors.inc({ kind: f.kind });
    };
    try {
      const blocked = await this.prepare();
      if (blocked) {
        fail(blocked);
        return report;
      }
      if (!this.enabled || !this.manifest || this.stopping) return report;
      const ctx = this.context();
      const list = await this.opts.buffer.listWindows();
      this.setQueue(list);
      for (const window of dueWindows(this.manifest.all(), list, this.windowMs, started)) {
        if (this.stopping) break;
        let outcome: WindowReport | null;
        try {
          outcome = await this.opts.buffer.exclusive(() => uploadWindow(this.opts.buffer, this.manifest!, ctx, window));
        } catch (err) {
          if (err instanceof Abandoned) break;
          const f = err instanceof TransientUploadError ? err.failure : null;
          if (f) {
            if (this.manifest.get(window)) this.manifest.failed(window, f.reason, 0);
            fail(f);
            this.failures.failed('upload failed, will retry', f, { window: iso(window) });
            this.metrics.atlasUp.set(0);
            break; // Atlas is the problem: no point trying the next window now
          }
          // The buffer (e.g. Redis down) failed, not Atlas: skip this window, try the others.
          const sf = classify(err);
          report.skipped.push({ window: iso(window), reason: sf.reason });
          report.ok = false;
          this.storeFailures.failed('a buffered window could not be read for upload; it stays queued', sf, { window: iso(window) });
          continue;
        }
        if (!outcome) continue;
        report.windows.push(outcome);
        if (outcome.quarantined.parts > 0) {
          // Atlas refused parts: they wait in the quarantine, the rest of the window went up.
          this.metrics.errors.inc({ kind: 'permanent' }, outcome.quarantined.parts);
          this.metrics.quarantinedParts.inc(outcome.quarantined.parts);
          this.lastError = { at: new Date(this.now()).toISOString(), kind: 'permanent', reason: outcome.error ?? 'refused' };
          report.ok = false;
        }
        this.metrics.duplicatesDropped.inc(outcome.duplicates_dropped);
        report.readings += outcome.readings;
        report.parts += outcome.parts;
        this.metrics.readings.inc(outcome.deleted);
        this.log.info({ window: outcome.window, store: outcome.store, readings: outcome.readings, parts: outcome.parts, deleted: outcome.deleted, groups: outcome.groups.length, result: outcome.result, duplicates_dropped: outcome.duplicates_dropped, quarantined: outcome.quarantined.parts }, 'window uploaded');
      }
      this.metrics.atlasUp.set(1);
      if (!report.error) {
        // Atlas took everything it was sent (a refused part is counted and reported separately).
        this.failures.succeeded('upload');
        if (report.skipped.length === 0) this.storeFailures.succeeded('reading buffered windows');
        this.lastSuccess = this.now();
        this.metrics.lastSuccess.set(Math.floor(this.lastSuccess / 1000));
      }
      return report;
    } catch (err) {
      // A bug or an unexpected condition must not kill the schedule.
      const f = classify(err);
      fail(f);
      // A bug would repeat every pass: its stack once, then the usual throttled line.
      if (!this.bugsSeen.has(f.reason)) {
        this.bugsSeen.add(f.reason);
        this.log.error({ err }, 'upload pass failed unexpectedly');
      } else this.failures.failed('upload pass failed unexpectedly', f);
      return report;
    } finally {
      this.uplink?.persist();
      report.finished_at = new Date(this.now()).toISOString();
      await this.refreshQueue();
      await this.opts.buffer.refreshGauges?.().catch(() => {});
    }
  }
}

const sum = <K extends string>(xs: Record<K, number>[], k: K): number => xs.reduce((n, x) => n + x[k], 0);
const iso = (t: number): string => new Date(t).toISOString();
