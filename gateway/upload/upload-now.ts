import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { EXIT_CONFIG } from '../errors.ts';
import { createMetrics } from '../metrics.ts';
import { ReadingBuffer } from '../buffer/buffer.ts';
import { Uploader, type UploadReport } from './uploader.ts';

/** sysexits: EX_TEMPFAIL, "try again later" (Atlas unreachable, another uploader running). */
export const EXIT_TEMPFAIL = 75;

/**
 * `iotgw upload --now`: one upload pass against the configured URI, for an installer checking a
 * new site or a test. Opens the buffer, uploads every closed window (finishing any manifest a
 * crash left), prints one line per window and group, and returns the exit code:
 * 0 everything closed went up (or there was nothing), 75 Atlas unreachable / another uploader
 * holds the buffer (retry later), 1 Atlas refused something (see the reason), 78 no mongodb.uri.
 */
export async function runUploadNow(config: Config, log: Logger, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  if (!config.mongodb.uri) {
    out.write('iotgw upload: mongodb.uri is not configured (set it in the config file or IOTGW_MONGODB_URI); nothing uploaded\n');
    return EXIT_CONFIG;
  }
  const metrics = createMetrics({ defaultMetrics: false });
  const buffer = new ReadingBuffer({ config, log, metrics });
  await buffer.open();
  const uploader = new Uploader({ config, log, metrics, buffer });
  try {
    out.write(`iotgw upload: gateway ${config.gateway_id} → ${maskUri(config.mongodb.uri)} database ${config.mongodb.database}\n`);
    const report = await uploader.runOnce();
    await uploader.refreshQueue();
    out.write(formatReport(report, uploader.status()));
    if (report.error) return report.error.kind === 'transient' ? EXIT_TEMPFAIL : 1;
    return report.ok ? 0 : 1;
  } finally {
    await uploader.stop(0);
    await buffer.close();
  }
}

export function formatReport(report: UploadReport, status: { queued_windows: number; queued_readings: number; queued_bytes: number }): string {
  const lines: string[] = [];
  for (const w of report.windows) {
    if (w.result === 'committed') {
      lines.push(`window ${w.window} (${w.store}): finished an upload interrupted earlier, ${w.deleted} readings deleted locally`);
      continue;
    }
    const parts = `${w.parts} part${w.parts === 1 ? '' : 's'}`;
    const tail = w.result === 'refused' ? `REFUSED, kept queued: ${w.error}` : `${w.deleted} deleted locally${w.stale_parts_removed ? `, ${w.stale_parts_removed} stale parts removed` : ''}`;
    lines.push(`window ${w.window} (${w.store}): ${w.readings} readings in ${parts}, ${tail}`);
    for (const g of w.groups) lines.push(`  group ${g.group_id}: ${g.readings} readings in ${g.parts} part${g.parts === 1 ? '' : 's'}${g.refused ? `, ${g.refused} refused` : ''}`);
  }
  for (const s of report.skipped) lines.push(`window ${s.window}: skipped (${s.reason})`);
  if (report.windows.length === 0 && report.skipped.length === 0 && !report.error) lines.push('nothing to upload: no closed windows in the buffer');
  if (report.error) lines.push(`error (${report.error.kind}): ${report.error.reason}`);
  lines.push(`uploaded ${report.readings} readings in ${report.parts} parts; still queued: ${status.queued_windows} closed windows, ${status.queued_readings} readings, ${status.queued_bytes} bytes`);
  return `${lines.join('\n')}\n`;
}

const maskUri = (uri: string): string => uri.replace(/(mongodb(?:\+srv)?:\/\/)[^@/]+@/, '$1***@');
