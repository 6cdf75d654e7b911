#!/usr/bin/env node
/**
 * CLI entry: `iotgw start | check-config | upload --now | doctor | version`.
 * Exit codes: 0 ok, 1 failure, 2 usage, 78 bad configuration (systemd does not restart on 78).
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import { loadConfig, maskSecrets, type Config } from './config.ts';
import { ConfigError, EXIT_CONFIG } from './errors.ts';
import { createLogger, type Logger } from './log.ts';

export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

const USAGE = `usage: iotgw <command> [--config FILE]

commands:
  start          run the gateway (what systemd and \`npm start\` run)
  check-config   validate the configuration and print the effective settings, secrets masked
  upload --now   run one upload pass to MongoDB Atlas and print what it did
  doctor         check config, Redis, SQLite, disk, clock, Atlas and mDNS; one line per check
  version        print the version

The config file is --config, else $IOTGW_CONFIG, else /etc/iotgw/config.yaml when it exists;
without one the embedded defaults run SQLite-only with upload disabled.`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string', short: 'c' }, now: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } } });
  } catch (err) {
    process.stderr.write(`iotgw: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = values.version ? 'version' : values.help ? 'help' : (positionals[0] ?? 'help');
  if (command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return positionals.length === 0 && !values.help ? 2 : 0;
  }
  if (command === 'version') {
    // Which build runs matters to support: the compiled one is what the unit should be running.
    const build = import.meta.url.endsWith('.mjs') ? 'compiled' : 'sources via tsx';
    process.stdout.write(`iotgw ${VERSION} (${build})\n`);
    return 0;
  }
  if (!['start', 'check-config', 'upload', 'doctor'].includes(command)) {
    process.stderr.write(`iotgw: unknown command "${command}"\n${USAGE}\n`);
    return 2;
  }

  if (command === 'doctor') {
    const { doctorCommand } = await import('./doctor/command.ts');
    return doctorCommand(values.config);
  }

  let config: Config;
  try {
    config = loadConfig({ file: values.config });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`iotgw: invalid configuration: ${err.message}\n`);
      return EXIT_CONFIG;
    }
    throw err;
  }

  if (command === 'check-config') {
    const { source, ...effective } = config as Config & { source: string | null };
    process.stdout.write(`# configuration OK (${source ?? 'embedded defaults, no config file'})\n${toYaml(maskSecrets(effective as Config))}`);
    return 0;
  }

  const log = createLogger(config.log.level);
  if (command === 'upload') {
    if (!values.now) {
      process.stderr.write('iotgw: `upload` needs --now (the daemon uploads on its own schedule)\n');
      return 2;
    }
    const { runUploadNow } = await import('./upload/upload-now.ts');
    return runUploadNow(config, log);
  }
  return runDaemon(config, log);
}

async function runDaemon(config: Config, log: Logger): Promise<number> {
  const { Gateway } = await import('./gateway.ts');
  const gateway = new Gateway(config, log, VERSION);
  let stopping: Promise<void> | null = null;
  const shutdown = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without waiting for the drain');
      process.exit(1);
    }
    log.info({ signal }, 'shutting down');
    stopping = gateway.stop();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception; exiting so the supervisor restarts a clean process');
    process.exit(1);
  });

  try {
    await gateway.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'gateway failed to start');
    await gateway.stop().catch(() => undefined);
    // A setting only a component can check (an MQTT topic filter) is still a configuration error.
    return err instanceof ConfigError ? EXIT_CONFIG : 1;
  }
  await gateway.stopped;
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`iotgw: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
