import { loadConfig, resolveConfigFile } from '../config.ts';
import { formatDoctor, runDoctor } from './index.ts';

/** `iotgw doctor [--config FILE]`: prints one line per check; exit 1 when a check failed. */
export async function doctorCommand(file?: string): Promise<number> {
  let source: string | null = null;
  try {
    source = resolveConfigFile({ file });
  } catch { /* loadConfig reports it below */ }
  let config;
  try {
    config = loadConfig({ file });
  } catch (err) {
    config = err as Error;
  }
  const res = await runDoctor(config, { source: source ?? undefined });
  process.stdout.write(formatDoctor(res));
  return res.ok ? 0 : 1;
}
