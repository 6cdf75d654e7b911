import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { Gauge } from 'prom-client';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { GatewayError } from '../errors.ts';
import { toGatewayError } from '../server.ts';
import { keyFromHeaders } from './auth.ts';
import type { Intake } from './intake.ts';

type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

interface Client {
  ws: WebSocket;
  key: string | null;
  remote?: string;
  alive: boolean;
  inFlight: number;
  corked: boolean;
}

/**
 * Intake at `/ws`. A message is one reading (its `seq` is echoed) or `{"seq": n, "readings":
 * [...]}`; the answer is `{"ack": seq, "accepted": n}` once durable, or `{"nack": seq, "error":
 * {...}}`. A client that does not read its acks is paused, not buffered without bound: past
 * `max_in_flight` unanswered messages or `max_buffered_bytes` of unread acks we stop reading its
 * socket, so TCP flow control pushes back on the device.
 */
export class WebSocketIntake {
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private pingTimer: NodeJS.Timeout | null = null;
  private readonly mounted = new Map<string, UpgradeHandler>();
  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head);

  constructor(
    private readonly server: Server,
    private readonly intake: Intake,
    private readonly config: Config,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: config.http.body_limit_bytes, perMessageDeflate: false });
    const clients = this.clients;
    new Gauge({
      name: 'iotgw_ws_send_queue_bytes',
      help: 'Largest amount of unsent acks queued for one WebSocket client; bounded by ingest.ws.max_buffered_bytes plus the acks of messages already read when the client was paused',
      registers: [metrics.registry],
      collect() {
        let max = 0;
        for (const c of clients) max = Math.max(max, c.ws.bufferedAmount);
        this.set(max);
      },
    });
  }

  async start(): Promise<void> {
    this.server.on('upgrade', this.onUpgrade);
    this.pingTimer = setInterval(() => this.heartbeat(), this.config.ingest.ws.ping_interval_ms);
    this.pingTimer.unref();
  }

  /** Stops taking messages; waits (bounded) for in-flight writes so their acks still go out. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.server.off('upgrade', this.onUpgrade);
    if (this.pingTimer) clearInterval(this.pingTimer);
    for (const c of this.clients) c.ws.pause();
    const deadline = Date.now() + timeoutMs;
    while ([...this.clients].some((c) => c.inFlight > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const c of this.clients) c.ws.close(1001, 'gateway shutting down');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    for (const c of this.clients) c.ws.terminate();
  }

  /** Another WebSocket endpoint on the HTTP port (MQTT over WebSocket at /mqtt), with its own login. */
  mount(path: string, handler: UpgradeHandler): void {
    this.mounted.set(path, handler);
  }

  get connections(): number {
    return this.clients.size;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0];
    const other = this.mounted.get(path.length > 1 ? path.replace(/\/$/, '') : path);
    if (other) {
      other(req, socket, head);
      return;
    }
    if (path !== '/ws' && path !== '/ws/') {
      refuseUpgrade(socket, new GatewayError('not_found', `no WebSocket endpoint at ${path}`, 404));
      return;
    }
    const key = keyFromHeaders(req.headers);
    try {
      this.intake.auth.checkKnown(key);
    } catch (err) {
      this.intake.rejected(err);
      refuseUpgrade(socket, toGatewayError(err));
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, key, req.socket.remoteAddress));
  }

  private attach(ws: WebSocket, key: string | null, remote?: string): void {
    const client: Client = { ws, key, remote, alive: true, inFlight: 0, corked: false };
    this.clients.add(client);
    this.metrics.wsConnections.set(this.clients.size);
    ws.on('pong', () => { client.alive = true; });
    ws.on('message', (data, isBinary) => void this.handle(client, data, isBinary));
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes with 1009 on a message past maxPayload: the same limit, and refusal, as an HTTP body.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.intake.rejected(new GatewayError('body_too_large', 'message too large', 413));
      this.log.debug({ err: err.message, remote }, 'websocket error');
    });
    ws.on('close', () => {
      this.clients.delete(client);
      this.metrics.wsConnections.set(this.clients.size);
    });
  }

  private async handle(client: Client, data: RawData, isBinary: boolean): Promise<void> {
    client.alive = true;
    client.inFlight++;
    this.throttle(client);
    let seq: unknown = null;
    try {
      if (isBinary) throw new GatewayError('unsupported_media_type', 'send readings as JSON text frames', 415);
      let msg: unknown;
      try {
        msg = JSON.parse(data.toString());
      } catch (err) {
        throw new GatewayError('invalid_json', `message is not valid JSON: ${(err as Error).message}`, 400);
      }
      seq = ackSeq(msg);
      const result = await this.intake.accept(msg, { key: client.key, transport: 'ws', remoteAddress: client.remote });
      // `firmware` after ack/accepted: the board keeps only the first 384 bytes of a reply.
      this.reply(client, result.firmware ? { ack: seq, accepted: result.accepted, firmware: result.firmware } : { ack: seq, accepted: result.accepted });
    } catch (err) {
      const e = toGatewayError(err);
      this.intake.rejected(e);
      const out: Record<string, unknown> = { nack: seq, ...e.toJSON() };
      if (e.retryAfterSeconds !== undefined) out.retry_after = e.retryAfterSeconds;
      this.reply(client, out);
    } finally {
      client.inFlight--;
      this.throttle(client);
    }
  }

  private reply(client: Client, body: unknown): void {
    if (client.ws.readyState !== client.ws.OPEN) return;
    // The acks of one tick (a group commit answers many messages at once) leave in one write(2).
    const socket = (client.ws as unknown as { _socket?: import('node:net').Socket })._socket;
    if (socket && !client.corked) {
      client.corked = true;
      socket.cork();
      process.nextTick(() => {
        client.corked = false;
        socket.uncork();
      });
    }
    client.ws.send(JSON.stringify(body), () => this.throttle(client));
  }

  /** Pauses reading from a client that is ahead of us or behind on its acks; resumes when both drain. */
  private throttle(client: Client): void {
    const { ws } = client;
    const ahead = client.inFlight >= this.config.ingest.ws.max_in_flight;
    const behind = ws.bufferedAmount > this.config.ingest.ws.max_buffered_bytes;
    const busy = ahead || behind;
    if (busy && !ws.isPaused) {
      this.metrics.limitHits.inc({ limit: ahead ? 'ingest.ws.max_in_flight' : 'ingest.ws.max_buffered_bytes' });
      ws.pause();
    }
    else if (!busy && ws.isPaused && ws.readyState === ws.OPEN) ws.resume();
  }

  private heartbeat(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        this.log.info({ remote: c.remote }, 'closing a WebSocket that stopped answering pings');
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }
}

/** The seq to echo: the batch envelope's, else the single reading's own per-boot counter. */
function ackSeq(msg: unknown): unknown {
  if (typeof msg === 'object' && msg !== null && !Array.isArray(msg)) {
    const seq = (msg as Record<string, unknown>).seq;
    return typeof seq === 'number' || typeof seq === 'string' ? seq : null;
  }
  return null;
}

function refuseUpgrade(socket: Duplex, err: GatewayError): void {
  const body = JSON.stringify(err.toJSON());
  const reason = err.status === 401 ? 'Unauthorized' : err.status === 404 ? 'Not Found' : 'Bad Request';
  socket.end(`HTTP/1.1 ${err.status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
