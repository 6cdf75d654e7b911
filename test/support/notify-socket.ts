import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { tempDir, waitFor } from './ports.ts';

/** One datagram received on the socket: its `KEY=VALUE` fields and when the test saw it. */
export interface NotifyMessage {
  fields: Record<string, string>;
  raw: string;
  at: number;
}

// Node has no AF_UNIX SOCK_DGRAM, so a tiny Python listener receives the datagrams and prints each
// one as a JSON string on its own line. recv() drops any passed fds (systemd-notify's BARRIER=1
// pipe), which is what tells the sender its message was read.
const LISTENER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("LISTENING"), flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps(data.decode("utf-8", "replace")), flush=True)
`;

/**
 * A real unix datagram socket for NOTIFY_SOCKET, as systemd would provide it. Every message that
 * `systemd-notify` sends lands in `messages`, in order.
 */
export class NotifySocket {
  readonly path: string;
  readonly messages: NotifyMessage[] = [];
  private proc: ChildProcess | null = null;
  private readonly tmp = tempDir('iotgw-notify-');

  constructor() {
    this.path = join(this.tmp.path, 'notify.sock');
  }

  async start(): Promise<this> {
    const proc = spawn('python3', ['-c', LISTENER, this.path], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    let listening = false;
    let stderr = '';
    proc.stderr!.on('data', (d) => { stderr += d; });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const raw = JSON.parse(line) as string;
      if (!listening && raw === 'LISTENING') { listening = true; return; }
      const fields: Record<string, string> = {};
      for (const part of raw.split('\n')) {
        const eq = part.indexOf('=');
        if (eq > 0) fields[part.slice(0, eq)] = part.slice(eq + 1);
      }
      this.messages.push({ fields, raw, at: Date.now() });
    });
    await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`notify listener exited ${proc.exitCode}: ${stderr}`);
      return listening;
    }, 10000, 'notify socket listener');
    return this;
  }

  /** Messages that carry `key` (optionally with exactly `value`), from index `since` on. */
  with(key: string, value?: string, since = 0): NotifyMessage[] {
    return this.messages.slice(since).filter((m) => key in m.fields && (value === undefined || m.fields[key] === value));
  }

  count(key: string, value?: string, since = 0): number {
    return this.with(key, value, since).length;
  }

  /** Waits until a message with `key` (and `value`) arrived at or after index `since`; returns the first. */
  waitFor(key: string, value?: string, since = 0, timeoutMs = 15000): Promise<NotifyMessage> {
    return waitFor(() => this.with(key, value, since)[0], timeoutMs, `${key}${value === undefined ? '' : `=${value}`} on NOTIFY_SOCKET`);
  }

  async close(): Promise<void> {
    const proc = this.proc;
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    this.proc = null;
    this.tmp.cleanup();
  }
}
