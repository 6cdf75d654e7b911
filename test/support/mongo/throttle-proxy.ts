// A site's uplink in front of the wire server: a TCP proxy that forwards what the client sends at
// most `bytesPerSecond` (a ~1 Mbit/s LTE or satellite uplink is 125,000), and the replies at full
// speed. A large write then takes as long to reach the server as it would from the site, and a
// client whose socket or operation timeout is shorter than that never gets its write through.
//
//   const link = new ThrottledLink({ port: server.port, bytesPerSecond: 64 * 1024 });
//   await link.start();
//   new MongoClient(link.uri)       // a standalone server only: a replica set's hello names the
//                                   // server's own address, and the driver would go there
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface ThrottledLinkOptions {
  /** The wire server's port (on `host`). */
  port: number;
  host?: string;
  /** Client → server rate; change it at any time through the property. */
  bytesPerSecond: number;
}

/** How often the link hands bytes on: small enough to be smooth, large enough to be cheap. */
const TICK_MS = 20;
/** Bytes a connection may queue before the client socket is paused (TCP backpressure reaches the driver). */
const HIGH_WATER = 64 * 1024;

export class ThrottledLink {
  bytesPerSecond: number;
  /** Bytes forwarded client → server, all connections. */
  bytesUp = 0;
  private server: Server | null = null;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private timer: NodeJS.Timeout | null = null;
  private port = 0;

  constructor(private readonly opts: ThrottledLinkOptions) {
    this.bytesPerSecond = opts.bytesPerSecond;
  }

  async start(): Promise<void> {
    const server = createServer((client) => this.connect(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
  }

  get uri(): string {
    return `mongodb://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private connect(client: Socket): void {
    const upstream = createConnection({ host: this.opts.host ?? '127.0.0.1', port: this.opts.port });
    const pair = { client, upstream };
    this.pairs.add(pair);
    const queue: Buffer[] = [];
    let queued = 0;
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
      this.pumps.delete(link);
    };
    // Each tick, a share of the rate goes to every connection with bytes waiting.
    const pump = (budget: number): void => {
      while (budget > 0 && queue.length > 0) {
        const head = queue[0];
        const n = Math.min(budget, head.length);
        upstream.write(head.subarray(0, n));
        if (n === head.length) queue.shift();
        else queue[0] = head.subarray(n);
        queued -= n;
        budget -= n;
        this.bytesUp += n;
      }
      if (queued < HIGH_WATER && client.isPaused()) client.resume();
    };
    const link = { pump, waiting: () => queued };
    this.pumps.add(link);
    this.ensureTimer();
    client.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      queued += chunk.length;
      if (queued >= HIGH_WATER) client.pause();
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  }

  private readonly pumps = new Set<{ pump: (budget: number) => void; waiting: () => number }>();

  private ensureTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      const active = [...this.pumps].filter((l) => l.waiting() > 0);
      if (active.length === 0) return;
      const share = Math.max(1, Math.floor((this.bytesPerSecond * TICK_MS) / 1000 / active.length));
      for (const l of active) l.pump(share);
    }, TICK_MS);
    this.timer.unref();
  }
}
