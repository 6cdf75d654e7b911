import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout: journald keeps them under systemd, and `pino-pretty` reads them by hand. */
export function createLogger(level: string, name = 'iotgw'): Logger {
  return pino({ name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
