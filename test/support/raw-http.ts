import { connect } from 'node:net';

/**
 * Writes `text` (and then `after`, e.g. frames once a WebSocket upgrade was answered) on a fresh
 * TCP connection and resolves with everything the server sent until it closed, or until the
 * connection sat idle for `idleMs` (then it is closed here; the bound only ends a hang).
 */
export function rawRequest(port: number, text: string, after?: Buffer, idleMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = connect(port, '127.0.0.1', () => {
      s.write(text);
      if (after) s.once('data', () => s.write(after));
    });
    s.setTimeout(idleMs, () => s.destroy());
    s.on('data', (d) => { data += d.toString('latin1'); });
    s.on('close', () => resolve(data));
    s.on('error', () => undefined);
  });
}
