import { join } from 'node:path';

/**
 * The admin socket's wire format, shared by the daemon (server.ts) and the CLI (client.ts):
 * one JSON line each way per connection.
 *   → {"cmd": "upload-now", "args": {...}}
 *   ← {"ok": true, "result": ...} | {"ok": false, "error": {"code", "message"}}
 */
export interface AdminRequest {
  cmd: string;
  args?: Record<string, unknown>;
}

export type AdminResponse =
  | { ok: true; result: unknown }
  | { ok: false; error: { code: string; message: string } };

/** Requests are small commands; anything longer is refused rather than buffered. */
export const ADMIN_MAX_LINE = 64 * 1024;

/** The socket lives in the data dir, which only the daemon's user can write. */
export const adminSocketPath = (dataDir: string): string => join(dataDir, 'admin.sock');
