/**
 * Errors that reach a client or an operator carry a stable `code` (like fastify's and pino's),
 * an HTTP status, and for bad input the path of the offending field, so a device developer can
 * fix the payload without reading gateway logs.
 */
export class GatewayError extends Error {
  readonly code: string;
  readonly status: number;
  readonly path?: string;
  readonly retryAfterSeconds?: number;

  constructor(code: string, message: string, status = 400, path?: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'GatewayError';
    this.code = code;
    this.status = status;
    this.path = path;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  toJSON(): { error: { code: string; message: string; path?: string } } {
    const error: { code: string; message: string; path?: string } = { code: this.code, message: this.message };
    if (this.path !== undefined) error.path = this.path;
    return { error };
  }
}

export const badField = (path: string, message: string, code = 'invalid_field'): GatewayError =>
  new GatewayError(code, `${path}: ${message}`, 400, path);

/** Raised while loading configuration; main.ts turns it into exit code 78 (EX_CONFIG). */
export class ConfigError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(path ? `${path}: ${message}` : message);
    this.name = 'ConfigError';
    this.path = path;
  }
}

export const EXIT_CONFIG = 78;
