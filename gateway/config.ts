import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { ConfigError, EXIT_CONFIG } from './errors.ts';
import { schema, type ConfigOf, type Rule, type Section } from './config-schema.ts';

export type RawConfig = ConfigOf<typeof schema>;
/** The effective configuration: every default applied and every derived path filled in. */
export type Config = RawConfig & { gateway_id: string; data_dir: string; sqlite: RawConfig['sqlite'] & { path: string }; discovery: RawConfig['discovery'] & { instance_name: string } };

export const DEFAULT_CONFIG_FILE = '/etc/iotgw/config.yaml';
const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const isRule = (node: Rule | Section): node is Rule => typeof (node as Rule).type === 'string';

function checkValue(path: string, rule: Rule, value: unknown): unknown {
  if (value === null && (rule.type === 'string' || rule.type === 'int') && rule.nullable) return null;
  switch (rule.type) {
    case 'string': {
      if (typeof value !== 'string') throw new ConfigError(path, `must be a string, got ${describe(value)}`);
      if (rule.oneOf && !rule.oneOf.includes(value)) throw new ConfigError(path, `must be one of ${rule.oneOf.join(', ')}, got "${value}"`);
      if (rule.pattern && !rule.pattern.test(value)) throw new ConfigError(path, rule.hint ?? `does not match ${rule.pattern}`);
      return value;
    }
    case 'int': {
      if (typeof value !== 'number' || !Number.isInteger(value)) throw new ConfigError(path, `must be an integer, got ${describe(value)}`);
      if (value < rule.min || value > rule.max) throw new ConfigError(path, `must be between ${rule.min} and ${rule.max}, got ${value}`);
      return value;
    }
    case 'bool':
      if (typeof value !== 'boolean') throw new ConfigError(path, `must be true or false, got ${describe(value)}`);
      return value;
    case 'strings':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new ConfigError(path, 'must be a list of strings');
      return [...value];
    case 'map': {
      if (!isPlainObject(value)) throw new ConfigError(path, 'must be a mapping of names to strings');
      for (const [k, v] of Object.entries(value)) if (typeof v !== 'string') throw new ConfigError(`${path}.${k}`, `must be a string, got ${describe(v)}`);
      return { ...value };
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `"${value}"`;
  return typeof value === 'object' ? 'a mapping' : String(value);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Applies defaults and validates `input` against `section`; unknown keys are errors (a typo must not pass silently). */
function applySection(section: Section, input: unknown, prefix: string): Record<string, unknown> {
  if (input !== undefined && input !== null && !isPlainObject(input)) throw new ConfigError(prefix, 'must be a mapping');
  const given = (input ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(key in section)) throw new ConfigError(prefix ? `${prefix}.${key}` : key, 'is not a known setting');
  }
  const out: Record<string, unknown> = {};
  for (const [key, node] of Object.entries(section)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isRule(node)) {
      out[key] = given[key] === undefined ? structuredClone(node.default) : checkValue(path, node, given[key]);
    } else {
      out[key] = applySection(node, given[key], path);
    }
  }
  return out;
}

type EnvOverride = { env: string[]; path: string; parse: (v: string) => unknown };
const asInt = (v: string): unknown => (/^-?\d+$/.test(v.trim()) ? Number(v) : v);
const asText = (v: string): unknown => v;
const asOptional = (v: string): unknown => (v.trim() === '' ? null : v);
/** A port, or `off` / empty for none (IOTGW_MQTT_PORT). */
const asOptionalInt = (v: string): unknown => (['', 'off', 'none'].includes(v.trim().toLowerCase()) ? null : asInt(v));
const asSwitch = (v: string): unknown => (['on', 'true', '1', 'yes'].includes(v.toLowerCase()) ? true : ['off', 'false', '0', 'no'].includes(v.toLowerCase()) ? false : v);

/** Environment variables win over the file: systemd drop-ins and tests set them without editing YAML. */
export const ENV_OVERRIDES: EnvOverride[] = [
  { env: ['IOTGW_PORT'], path: 'http.port', parse: asInt },
  { env: ['IOTGW_HOST'], path: 'http.host', parse: asText },
  { env: ['IOTGW_DATA_DIR'], path: 'data_dir', parse: asText },
  { env: ['IOTGW_REDIS_URL'], path: 'redis.url', parse: (v) => (v.trim() === '' ? 'none' : v) },
  { env: ['IOTGW_MONGODB_URI', 'MONGODB_URI'], path: 'mongodb.uri', parse: asOptional },
  { env: ['IOTGW_WINDOW_SECONDS'], path: 'window_seconds', parse: asInt },
  { env: ['IOTGW_UPLOAD_INTERVAL_SECONDS'], path: 'upload.interval_seconds', parse: asInt },
  { env: ['IOTGW_GATEWAY_ID'], path: 'gateway_id', parse: asText },
  { env: ['IOTGW_DISCOVERY'], path: 'discovery.enabled', parse: asSwitch },
  { env: ['IOTGW_LOG_LEVEL'], path: 'log.level', parse: asText },
  { env: ['IOTGW_SQLITE_FALLBACK'], path: 'redis.sqlite_fallback', parse: asSwitch },
  { env: ['IOTGW_SHUTDOWN_TIMEOUT_MS'], path: 'shutdown_timeout_ms', parse: asInt },
  { env: ['IOTGW_READ_TOKEN'], path: 'http.read_token', parse: asOptional },
  { env: ['IOTGW_MQTT_PORT'], path: 'mqtt.listen_port', parse: asOptionalInt },
];

/** Sets a dotted path (`sqlite.group_commit_ms`) in a plain settings object, creating the levels on the way. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!isPlainObject(node[part])) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

export interface LoadOptions {
  /** Explicit file (from --config); an explicit file that does not exist is an error. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Extra settings applied last, as dotted paths; tests use it instead of writing YAML. */
  overrides?: Record<string, unknown>;
}

export function resolveConfigFile(opts: LoadOptions): string | null {
  const env = opts.env ?? process.env;
  const explicit = opts.file ?? env.IOTGW_CONFIG;
  if (explicit) {
    if (!existsSync(explicit)) throw new ConfigError('', `config file ${explicit} does not exist`);
    return explicit;
  }
  return existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : null;
}

export function loadConfig(opts: LoadOptions = {}): Config & { source: string | null } {
  const env = opts.env ?? process.env;
  const file = resolveConfigFile(opts);
  let raw: unknown = {};
  if (file) {
    try {
      raw = parseYaml(readFileSync(file, 'utf8')) ?? {};
    } catch (err) {
      throw new ConfigError('', `cannot read ${file}: ${(err as Error).message.split('\n')[0]}`);
    }
    if (!isPlainObject(raw)) throw new ConfigError('', `${file} must contain a YAML mapping`);
  }
  const merged = structuredClone(raw) as Record<string, unknown>;
  for (const o of ENV_OVERRIDES) {
    const name = o.env.find((n) => env[n] !== undefined);
    if (name !== undefined) setPath(merged, o.path, o.parse(env[name] as string));
  }
  for (const [path, value] of Object.entries(opts.overrides ?? {})) setPath(merged, path, value);
  const cfg = applySection(schema, merged, '') as RawConfig;
  return { ...finish(cfg, env), source: file };
}

function finish(cfg: RawConfig, env: NodeJS.ProcessEnv): Config {
  const gatewayId = cfg.gateway_id ?? sanitizeId(hostname());
  // Root (a system install) keeps data in /var/lib/iotgw; systemd passes STATE_DIRECTORY; a
  // developer's `npm start` keeps it inside the checkout so nothing needs sudo.
  const dataDir = cfg.data_dir ?? env.STATE_DIRECTORY?.split(':')[0] ?? (process.getuid?.() === 0 ? '/var/lib/iotgw' : join(projectRoot, 'data'));
  return {
    ...cfg,
    gateway_id: gatewayId,
    data_dir: dataDir,
    sqlite: { ...cfg.sqlite, path: cfg.sqlite.path ?? join(dataDir, 'buffer.db') },
    discovery: { ...cfg.discovery, instance_name: cfg.discovery.instance_name ?? `iotgw ${gatewayId}` },
  };
}

function sanitizeId(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._:-]/g, '-').slice(0, 64);
  return cleaned.length > 0 ? cleaned : 'iotgw';
}

/**
 * For CLI commands: the config, or the exit code 78 after printing the path-precise error (the
 * same line `iotgw start` prints, so systemd's journal and a terminal read alike).
 */
export function loadConfigOrExitCode(file: string | undefined, stderr: NodeJS.WritableStream = process.stderr): (Config & { source: string | null }) | number {
  try {
    return loadConfig({ file });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    stderr.write(`iotgw: invalid configuration: ${err.message}\n`);
    return EXIT_CONFIG;
  }
}

/** The effective config for printing: secrets replaced, so `check-config` output can be pasted into a ticket. */
export function maskSecrets(cfg: Config): Record<string, unknown> {
  const copy = structuredClone(cfg) as unknown as Record<string, unknown>;
  const walk = (section: Section, node: Record<string, unknown>): void => {
    for (const [key, rule] of Object.entries(section)) {
      if (isRule(rule)) {
        if ('secret' in rule && rule.secret && node[key] != null) node[key] = maskValue(node[key]);
      } else if (isPlainObject(node[key])) walk(rule, node[key] as Record<string, unknown>);
    }
  };
  walk(schema, copy);
  return copy;
}

function maskValue(value: unknown): unknown {
  if (typeof value === 'string') {
    // Keep a MongoDB URI's host visible (it is what an installer checks) and hide the credentials.
    const m = /^(mongodb(?:\+srv)?:\/\/)([^@/]+)@(.*)$/.exec(value);
    return m ? `${m[1]}***@${m[3]}` : '***';
  }
  if (isPlainObject(value)) return Object.fromEntries(Object.keys(value).map((k) => [k, '***']));
  return '***';
}
