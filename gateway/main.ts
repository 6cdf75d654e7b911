#!/usr/bin/env node
/**
 * CLI entry: `iotgw start | check-config | upload --now | doctor | version`.
 * Exit codes: 0 ok, 1 failure, 2 usage, 78 bad configuration (systemd does not restart on 78).
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import { loadConfig, loadConfigOrExitCode, maskSecrets, type Config } from './config.ts';
import { ConfigError, EXIT_CONFIG } from './errors.ts';
import { createLogger, type Logger } from './log.ts';
import { KeyFileError } from './keys/key-store.ts';
import { CatalogueError } from './firmware/catalogue.ts';

export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

const USAGE = `usage: iotgw <command> [--config FILE]

commands:
  start          run the gateway (what systemd and \`npm start\` run)
  check-config   validate the configuration and print the effective settings, secrets masked
  upload --now   run one upload pass to MongoDB Atlas and print what it did (through the
                 running daemon when there is one, else in this process)
  upload --retry-quarantine
                 send the parts Atlas refused (after fixing why) again; with --now, then a pass
  devices        add, list or revoke device keys (iotgw devices --help)
  firmware       publish firmware images for over-the-air updates: add, list, remove, pause,
                 resume (iotgw firmware --help)
  reload         make the running daemon re-read its config and device keys (as systemctl reload)
  doctor         check config, Redis, SQLite, disk, clock, Atlas and mDNS; one line per check
  version        print the version

The config file is --config, else $IOTGW_CONFIG, else /etc/iotgw/config.yaml when it exists;
without one the embedded defaults run SQLite-only with upload disabled.`;

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'firmware') {
    const { firmwareCommand } = await import('./firmware/cli.ts');
    return firmwareCommand(argv.slice(1));
  }
  if (argv[0] === 'devices') {
    const { devicesCommand } = await import('./keys/cli.ts');
    return devicesCommand(argv.slice(1));
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string', short: 'c' }, now: { type: 'boolean' }, 'retry-quarantine': { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } } });
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
  if (!['start', 'check-config', 'upload', 'doctor', 'reload'].includes(command)) {
    process.stderr.write(`iotgw: unknown command "${command}"\n${USAGE}\n`);
    return 2;
  }

  if (command === 'doctor') {
    const { doctorCommand } = await import('./doctor/command.ts');
    return doctorCommand(values.config);
  }

  const config = loadConfigOrExitCode(values.config);
  if (typeof config === 'number') return config;

  if (command === 'check-config') {
    const { source, ...effective } = config as Config & { source: string | null };
    process.stdout.write(`# configuration OK (${source ?? 'embedded defaults, no config file'})\n${toYaml(maskSecrets(effective as Config))}`);
    return 0;
  }

  if (command === 'reload') {
    const { reloadCommand } = await import('./reload-cli.ts');
    return reloadCommand(config);
  }
  const log = createLogger(config.log.level);
  if (command === 'upload') {
    if (!values.now && !values['retry-quarantine']) {
      process.stderr.write('iotgw: `upload` needs --now or --retry-quarantine (the daemon uploads on its own schedule)\n');
      return 2;
    }
    const { runUploadNow } = await import('./upload/upload-now.ts');
    return runUploadNow(config, log, process.stdout, { now: values.now === true, retryQuarantine: values['retry-quarantine'] === true });
  }
  return runDaemon(config, log, () => loadConfig({ file: values.config }));
}

async function runDaemon(config: Config, log: Logger, reloadConfig: () => Config): Promise<number> {
  const { Gateway } = await import('./gateway.ts');
  const gateway = new Gateway(config, log, VERSION, reloadConfig);
  let started = false;
  // SIGHUP (systemctl reload): re-read config and keys. Registered before start, because the
  // default action of SIGHUP is to exit; one that arrives during start-up is logged and ignored.
  process.on('SIGHUP', () => {
    if (!started) log.warn('SIGHUP during start-up: ignored, reload again once the daemon is ready');
    else gateway.reload().catch(() => undefined); // reload() logged why
  });
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
    started = true;
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'gateway failed to start');
    await gateway.stop().catch(() => undefined);
    // A broken key file does not mend itself, nor does a setting only a component can check (an
    // MQTT topic filter): 78 stops systemd's restart loop, as for config.yaml.
    return err instanceof KeyFileError || err instanceof ConfigError || err instanceof CatalogueError ? EXIT_CONFIG : 1;
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
