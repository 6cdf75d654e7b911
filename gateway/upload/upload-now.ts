import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { EXIT_CONFIG } from '../errors.ts';
import { createMetrics } from '../metrics.ts';
import { ReadingBuffer } from '../buffer/buffer.ts';
import { adminCall, DaemonNotRunning } from '../admin/client.ts';
import { adminSocketPath } from '../admin/protocol.ts';
import { Uploader, type UploadReport, type UploadStatus } from './uploader.ts';
import type { QuarantineRetryReport } from './quarantine-retry.ts';

/** sysexits: EX_TEMPFAIL, "try again later" (Atlas unreachable, another uploader running). */
export const EXIT_TEMPFAIL = 75;

/** How long the CLI waits for the daemon's pass: an hour of a big site over a slow uplink takes a while. */
const DAEMON_PASS_TIMEOUT_MS = 6 * 3600_000;

export interface UploadCommand {
  /** Run a pass (`--now`). */
  now: boolean;
  /** Retry the quarantined parts first (`--retry-quarantine`). */
  retryQuarantine: boolean;
}

/** What the daemon answers on the admin socket to `upload-now` / `upload-retry-quarantine`. */
export interface DaemonUploadAnswer<R> {
  pid: number;
  report: R;
  status: UploadStatus;
}

/** The daemon's `upload-now`: the same pass as `POST /upload/now` (uploader.runOnce), then the queue. */
export async function uploadNowCommand(uploader: Uploader): Promise<DaemonUploadAnswer<UploadReport>> {
  const report = await uploader.runOnce();
  await uploader.refreshQueue();
  return { pid: process.pid, report, status: uploader.status() };
}

/** The daemon's `upload-retry-quarantine`. */
export async function retryQuarantineCommand(uploader: Uploader): Promise<DaemonUploadAnswer<QuarantineRetryReport>> {
  const report = await uploader.retryQuarantine();
  await uploader.refreshQueue();
  return { pid: process.pid, report, status: uploader.status() };
}

/**
 * `iotgw upload --now` / `--retry-quarantine`, for an installer checking a new site, an operator
 * after fixing what Atlas refused, or a test. When the daemon runs, it is asked through its admin
 * socket (it holds the buffer and the upload lock) and the CLI waits for its answer; when none
 * runs, the CLI opens the buffer and does it itself. Prints one line per window and group (or
 * quarantined part) and returns the exit code: 0 everything went up (or there was nothing), 75
 * Atlas unreachable / another uploader holds the buffer (retry later), 1 Atlas refused something
 * (see the reason), 78 no mongodb.uri.
 */
export async function runUploadNow(config: Config, log: Logger, out: NodeJS.WritableStream = process.stdout, cmd: UploadCommand = { now: true, retryQuarantine: false }): Promise<number> {
  if (!config.mongodb.uri) {
    out.write('iotgw upload: mongodb.uri is not configured (set it in the config file or IOTGW_MONGODB_URI); nothing uploaded\n');
    return EXIT_CONFIG;
  }
  const socket = adminSocketPath(config.data_dir);
  let daemon: { pid: number } | null = null;
  try {
    daemon = (await adminCall(socket, 'status', {}, 10_000)) as { pid: number };
  } catch (err) {
    if (!(err instanceof DaemonNotRunning)) {
      out.write(`iotgw upload: a daemon holds this data dir but did not answer: ${(err as Error).message}\n`);
      return EXIT_TEMPFAIL;
    }
  }
  if (!daemon) return runHere(config, log, out, cmd);
  // The daemon holds the buffer and the upload lock: it does the work, the CLI waits and prints.
  const codes: number[] = [];
  try {
    if (cmd.retryQuarantine) {
      out.write(`iotgw upload: asking the running daemon (pid ${daemon.pid}) to retry the quarantine\n`);
      const a = (await adminCall(socket, 'upload-retry-quarantine', {}, DAEMON_PASS_TIMEOUT_MS)) as DaemonUploadAnswer<QuarantineRetryReport>;
      out.write(formatRetry(a.report));
      codes.push(retryExit(a.report));
    }
    if (cmd.now) {
      out.write(`iotgw upload: asking the running daemon (pid ${daemon.pid}) to upload now, and waiting for it\n`);
      const a = (await adminCall(socket, 'upload-now', {}, DAEMON_PASS_TIMEOUT_MS)) as DaemonUploadAnswer<UploadReport>;
      out.write(`iotgw upload: the daemon uploaded to database ${config.mongodb.database}:\n`);
      out.write(formatReport(a.report, a.status));
      codes.push(passExit(a.report));
    }
  } catch (err) {
    out.write(`iotgw upload: the running daemon did not complete it: ${(err as Error).message}\n`);
    return EXIT_TEMPFAIL;
  }
  return worst(codes);
}

/** No daemon runs: open the buffer and do it in this process. */
async function runHere(config: Config, log: Logger, out: NodeJS.WritableStream, cmd: UploadCommand): Promise<number> {
  const metrics = createMetrics({ defaultMetrics: false });
  const buffer = new ReadingBuffer({ config, log, metrics });
  await buffer.open();
  const uploader = new Uploader({ config, log, metrics, buffer });
  const codes: number[] = [];
  try {
    out.write(`iotgw upload: gateway ${config.gateway_id} → ${maskUri(config.mongodb.uri!)} database ${config.mongodb.database}\n`);
    if (cmd.retryQuarantine) {
      const report = await uploader.retryQuarantine();
      out.write(formatRetry(report));
      codes.push(retryExit(report));
    }
    if (cmd.now) {
      const report = await uploader.runOnce();
      await uploader.refreshQueue();
      out.write(formatReport(report, uploader.status()));
      codes.push(passExit(report));
    }
    return worst(codes);
  } finally {
    await uploader.stop(0);
    await buffer.close();
  }
}

const passExit = (r: UploadReport): number => (r.error ? (r.error.kind === 'transient' ? EXIT_TEMPFAIL : 1) : r.ok ? 0 : 1);
const retryExit = (r: QuarantineRetryReport): number => (r.error ? (r.error.kind === 'transient' ? EXIT_TEMPFAIL : 1) : r.ok ? 0 : 1);
/** Retry later (75) outranks a refusal (1), which outranks success. */
const worst = (codes: number[]): number => (codes.includes(EXIT_TEMPFAIL) ? EXIT_TEMPFAIL : codes.includes(1) ? 1 : 0);

export function formatReport(report: UploadReport, status: Pick<UploadStatus, 'queued_windows' | 'queued_readings' | 'queued_bytes' | 'quarantine'>): string {
  const lines: string[] = [];
  for (const w of report.windows) {
    if (w.result === 'committed') {
      lines.push(`window ${w.window} (${w.store}): finished an upload interrupted earlier, ${w.deleted} readings deleted locally`);
      continue;
    }
    const parts = `${w.parts} part${w.parts === 1 ? '' : 's'}`;
    const extra = [
      w.stale_parts_removed ? `${w.stale_parts_removed} stale parts removed` : '',
      w.duplicates_dropped ? `${w.duplicates_dropped} readings left out (Atlas holds them already)` : '',
      w.quarantined.parts ? `${w.quarantined.parts} part${w.quarantined.parts === 1 ? '' : 's'} (${w.quarantined.readings} readings) REFUSED and quarantined: ${w.error}` : '',
    ].filter(Boolean);
    lines.push(`window ${w.window} (${w.store}): ${w.readings} readings in ${parts}, ${w.deleted} deleted locally${extra.length ? `, ${extra.join(', ')}` : ''}`);
    for (const g of w.groups) lines.push(`  group ${g.group_id}: ${g.readings} readings in ${g.parts} part${g.parts === 1 ? '' : 's'}${g.refused ? `, ${g.refused} refused` : ''}`);
  }
  for (const s of report.skipped) lines.push(`window ${s.window}: skipped (${s.reason})`);
  if (report.windows.length === 0 && report.skipped.length === 0 && !report.error) lines.push('nothing to upload: no closed windows in the buffer');
  if (report.error) lines.push(`error (${report.error.kind}): ${report.error.reason}`);
  lines.push(`uploaded ${report.readings} readings in ${report.parts} parts; still queued: ${status.queued_windows} closed windows, ${status.queued_readings} readings, ${status.queued_bytes} bytes`);
  if (status.quarantine.parts > 0) lines.push(`quarantined (refused by Atlas): ${status.quarantine.parts} parts, ${status.quarantine.readings} readings; after fixing the cause: iotgw upload --retry-quarantine`);
  return `${lines.join('\n')}\n`;
}

export function formatRetry(report: QuarantineRetryReport): string {
  const lines: string[] = [];
  for (const p of report.parts) {
    const what = p.result === 'uploaded' ? `${p.readings - p.duplicates_dropped} readings uploaded` : p.result === 'held-elsewhere' ? 'every reading is in Atlas already (another part); dropped from the quarantine' : `REFUSED again, stays quarantined: ${p.reason}`;
    lines.push(`part ${p.part_id} (group ${p.group_id}, hour ${p.hour}): ${what}`);
  }
  if (report.parts.length === 0 && !report.error) lines.push('the quarantine is empty: nothing to retry');
  if (report.error) lines.push(`error (${report.error.kind}): ${report.error.reason}`);
  lines.push(`retried ${report.parts.length} parts: ${report.uploaded.parts} uploaded (${report.uploaded.readings} readings); still quarantined: ${report.remaining.parts} parts, ${report.remaining.readings} readings`);
  return `${lines.join('\n')}\n`;
}

const maskUri = (uri: string): string => uri.replace(/(mongodb(?:\+srv)?:\/\/)[^@/]+@/, '$1***@');
