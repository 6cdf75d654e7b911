/**
 * `iotgw doctor`: one line per check, each with a fix hint, for the operator on a Pi.
 * `runDoctor` returns the results (tests and the status page can use them); `formatDoctor` prints
 * them; `command.ts` is the CLI glue (load config, run, print, exit code).
 */
import type { Config } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { checkAtlas } from './checks/atlas.ts';
import { checkRedis } from './checks/redis.ts';
import { checkDataDir, checkSqlite } from './checks/storage.ts';
import { checkClock, checkDaemon, checkMdns } from './checks/system.ts';
import { type CheckContext, type CheckResult, type DoctorOptions, type DoctorResult, errText, result } from './types.ts';

export type { CheckResult, DoctorOptions, DoctorResult, Level } from './types.ts';

/**
 * Runs every check. `config` is the loaded config, or the error `loadConfig` threw: then the config
 * line fails with the path of the bad field and the checks that need a config are skipped.
 * Overall `ok` is false when any check failed; warnings and notes do not fail the run.
 */
export async function runDoctor(config: Config | Error, opts: DoctorOptions = {}): Promise<DoctorResult> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const checks: CheckResult[] = [];
  if (config instanceof Error) {
    const where = config instanceof ConfigError && config.path ? ` (field ${config.path})` : '';
    checks.push(result('config', 'fail', config.message, `fix ${opts.source ?? 'the config file'}${where}; iotgw check-config shows the effective settings`));
    for (const name of ['data dir', 'sqlite', 'redis', 'atlas', 'mdns', 'daemon']) checks.push(result(name, 'skip', 'not checked: configuration invalid'));
    const clockCtx = { config: null as unknown as Config, timeoutMs, opts };
    checks.push(checkClock(clockCtx));
    return { ok: false, checks };
  }
  checks.push(result('config', 'ok', `${opts.source ?? (config as Config & { source?: string | null }).source ?? 'embedded defaults (no config file)'} valid; gateway_id ${config.gateway_id}`));
  const ctx: CheckContext = { config, timeoutMs, opts };
  const guard = async (name: string, run: () => CheckResult | CheckResult[] | Promise<CheckResult | CheckResult[]>): Promise<CheckResult[]> => {
    try {
      const r = await run();
      return Array.isArray(r) ? r : [r];
    } catch (err) {
      return [result(name, 'fail', `check crashed: ${errText(err)}`, 'report this with the output of iotgw doctor')];
    }
  };
  // Local checks first, then the network ones concurrently (each is bounded by timeoutMs).
  checks.push(...await guard('data dir', () => checkDataDir(ctx)));
  checks.push(...await guard('sqlite', () => checkSqlite(ctx)));
  const network = await Promise.all([
    guard('redis', () => checkRedis(ctx)),
    guard('atlas', () => checkAtlas(ctx)),
    guard('mdns', () => checkMdns(ctx)),
    guard('daemon', () => checkDaemon(ctx)),
  ]);
  checks.push(...network[0], ...network[1]);
  checks.push(...await guard('clock', () => checkClock(ctx)));
  checks.push(...network[2], ...network[3]);
  return { ok: checks.every((c) => c.ok), checks };
}

const LABEL = { ok: 'OK', note: 'NOTE', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' } as const;

/** Plain text, one line per check and an indented `fix:` line under anything that needs one. */
export function formatDoctor(res: DoctorResult): string {
  const width = Math.max(...res.checks.map((c) => c.name.length)) + 2;
  const lines = res.checks.map((c) => {
    const head = `${LABEL[c.level].padEnd(5)} ${c.name.padEnd(width)}${c.detail}`;
    return c.hint ? `${head}\n${' '.repeat(6 + width)}fix: ${c.hint}` : head;
  });
  const count = (l: string) => res.checks.filter((c) => c.level === l).length;
  lines.push(`doctor: ${count('ok')} ok, ${count('warn')} warning(s), ${count('note')} note(s), ${count('fail')} failed${res.ok ? '' : ' - something is broken'}`);
  return `${lines.join('\n')}\n`;
}
