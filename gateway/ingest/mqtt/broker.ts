import type { IncomingMessage } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import { Gauge } from 'prom-client';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Config } from '../../config.ts';
import { GatewayError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import type { DeviceAuth } from '../auth.ts';
import { checkMqttLogin } from './credentials.ts';
import { PacketLimitedConnection } from './packet-limit.ts';
import type { MqttTelemetry, PublishOrigin } from './telemetry.ts';

export interface BrokerDeps {
  config: Pick<Config, 'mqtt' | 'http'>;
  log: Logger;
  metrics: Pick<Metrics, 'registry'>;
  telemetry: MqttTelemetry;
  auth: DeviceAuth;
}

interface Session {
  /** The MQTT password: the device key every reading this connection publishes is checked against. */
  key: string | null;
  /** Intake writes in flight for this connection. */
  pending: Set<Promise<unknown>>;
}

/** aedes' CONNACK return code for a refused login (MQTT 3.1.1 §3.2.2.3). */
const BAD_USERNAME_OR_PASSWORD = 4;

/**
 * The embedded MQTT broker (aedes, MQTT 3.1 and 3.1.1) on its own TCP port, and on the HTTP port
 * at `/mqtt` over WebSocket. Publishes to telemetry topics go through intake before they are
 * acknowledged; every other topic, retained messages and subscriptions are an ordinary broker's
 * (kept in memory: a restart forgets them, never a reading).
 */
export class MqttBroker {
  private aedes: Aedes | null = null;
  private server: Server | null = null;
  private wss: WebSocketServer | null = null;
  private readonly sessions = new WeakMap<Client, Session>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopping = false;
  private readonly log: Logger;
  port = 0;

  constructor(private readonly deps: BrokerDeps) {
    this.log = deps.log.child({ component: 'mqtt-broker' });
  }

  async start(): Promise<void> {
    const { mqtt, http } = this.deps.config;
    const aedes = await Aedes.createBroker({
      authenticate: (client, username, password, done) => this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => this.authorizePublish(client, packet, done),
    });
    this.aedes = aedes;
    aedes.on('clientError', (client, err) => this.log.debug({ client: client.id, err: err.message }, 'MQTT client error'));
    aedes.on('connectionError', (_client, err) => this.log.debug({ err: err.message }, 'MQTT connection error'));
    new Gauge({ name: 'iotgw_mqtt_clients', help: 'Clients connected to the embedded MQTT broker', registers: [this.deps.metrics.registry], collect() { this.set(aedes.connectedClients); } });

    const server = createServer((socket) => this.attach(socket, socket.remoteAddress));
    this.server = server;
    const host = mqtt.host ?? http.host;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(mqtt.listen_port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err: err.message }, 'MQTT listener error'));
    this.port = (server.address() as AddressInfo).port;
    this.log.info({ host, port: this.port, topic: mqtt.topic }, 'MQTT broker listening');
  }

  /** MQTT over WebSocket, for the HTTP server's upgrade at `/mqtt`; the login happens in MQTT's CONNECT. */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (!this.aedes || this.stopping) {
      socket.destroy();
      return;
    }
    // A WebSocket message may carry several MQTT packets: the packet guard does the limiting.
    this.wss ??= new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: this.deps.config.mqtt.max_packet_bytes + 64 * 1024 });
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', (err: Error & { code?: string }) => {
        if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.deps.telemetry.refused(tooLarge(Infinity, this.deps.config.mqtt.max_packet_bytes), { client: 'websocket', remoteAddress: req.socket.remoteAddress });
      });
      this.attach(createWebSocketStream(ws), req.socket.remoteAddress, req);
    });
  };

  private attach(stream: Duplex, remote: string | undefined, req?: IncomingMessage): void {
    const aedes = this.aedes;
    if (!aedes || this.stopping) {
      stream.destroy();
      return;
    }
    const max = this.deps.config.mqtt.max_packet_bytes;
    let client: Client | null = null;
    const conn = new PacketLimitedConnection(stream, max, remote, (announced) => {
      this.deps.telemetry.refused(tooLarge(announced, max), { client: client?.id ?? 'connecting', remoteAddress: remote });
      void this.closeWhenSettled(client, conn);
    });
    client = aedes.handle(conn, req);
  }

  private authenticate(client: Client, username: string | undefined, password: Buffer | undefined, done: (err: AuthenticateError | null, ok: boolean | null) => void): void {
    const key = password ? password.toString('utf8') : null;
    try {
      checkMqttLogin(this.deps.auth, username, key);
    } catch (err) {
      const e = this.deps.telemetry.refused(err, { client: client.id, remoteAddress: remoteOf(client) }, undefined, 'MQTT login refused');
      done(Object.assign(new Error(e.message), { returnCode: BAD_USERNAME_OR_PASSWORD }) as AuthenticateError, false);
      return;
    }
    this.sessions.set(client, { key, pending: new Set() });
    done(null, true);
  }

  /**
   * Why this hook holds the PUBACK: aedes calls `authorizePublish` first for every PUBLISH, and
   * its `enqueuePublish` (lib/handlers/publish.js) writes the QoS 1 PUBACK (QoS 2: the PUBREC)
   * only once this hook's callback ran, then routes the message. `published` runs after the
   * PUBACK is written, and `preConnect`/`authenticate` run once per connection, so neither can
   * hold an acknowledgement. Here the readings are made durable and the callback comes after:
   * the callback is the PUBACK. An error closes the connection and nothing is acknowledged or
   * routed: MQTT 3.1.1 has no negative PUBACK (MQTT-3.3.5-2), so a board learns of a refusal by
   * the closed connection and its resend after reconnecting is refused again.
   */
  private authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    if (packet.topic.startsWith('$SYS/')) {
      done(new Error('$SYS/ topics are reserved')); // what aedes' default hook does
      return;
    }
    // An empty retained message only clears what a topic retains (MQTT-3.3.1-10): not a reading.
    if (!this.deps.telemetry.template.covers(packet.topic) || (packet.retain && packet.payload.length === 0)) {
      done(null);
      return;
    }
    const session = client ? this.sessions.get(client) : undefined;
    // client is null only for a will left by another broker instance; this broker keeps none.
    const origin: PublishOrigin = { key: session?.key ?? null, client: client?.id ?? 'will', remoteAddress: remoteOf(client) };
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const work = this.stopping
      ? Promise.reject(new GatewayError('shutting_down', 'the gateway is shutting down; publish again when it is back', 503))
      : this.deps.telemetry.accept(packet.topic, payload, origin);
    this.track(work, session);
    work.then(() => done(null), async (err: unknown) => {
      const e = this.deps.telemetry.refused(err, origin, packet.topic);
      await this.settled(session);
      // After the PUBACKs of this connection's other messages were written (mqtt-packet flushes
      // them on the next tick), aedes closes the connection.
      setImmediate(() => done(new Error(`${e.code}: ${e.message}`)));
    });
  }

  private track(work: Promise<unknown>, session: Session | undefined): void {
    const settle = (): void => {
      this.inFlight.delete(work);
      session?.pending.delete(work);
    };
    this.inFlight.add(work);
    session?.pending.add(work);
    work.then(settle, settle);
  }

  /** Resolves once this connection's intake writes in flight have settled (and their PUBACKs were written). */
  private async settled(session: Session | undefined): Promise<void> {
    if (session && session.pending.size > 0) await Promise.allSettled([...session.pending]);
  }

  /**
   * Closes a connection whose next packet is refused unread, once aedes has read and answered
   * the packets before it (they were handed over but may still wait in `conn` for aedes to
   * finish its previous batch). Bounded, for a client aedes never reads again.
   */
  private async closeWhenSettled(client: Client | null, conn: Duplex): Promise<void> {
    const deadline = Date.now() + 10_000;
    const session = (): Session | undefined => (client ? this.sessions.get(client) : undefined);
    do {
      await this.settled(session());
      await new Promise((r) => setImmediate(r));
    } while ((conn.readableLength > 0 || (session()?.pending.size ?? 0) > 0) && Date.now() < deadline);
    conn.destroy();
  }

  /**
   * Stops taking connections and telemetry, lets the writes in flight finish (bounded) so their
   * PUBACKs go out, then closes every client. What arrives meanwhile is refused unacknowledged,
   * so boards publish it again to the restarted gateway.
   */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopping = true;
    const server = this.server;
    const listenerClosed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    if (this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.inFlight]), new Promise<void>((r) => { timer = setTimeout(r, timeoutMs); })]);
      clearTimeout(timer);
    }
    const aedes = this.aedes;
    if (aedes) await new Promise<void>((r) => aedes.close(() => r()));
    this.wss?.close();
    await listenerClosed;
  }
}

function remoteOf(client: Client | null): string | undefined {
  return (client?.conn as { remoteAddress?: string } | undefined)?.remoteAddress;
}

function tooLarge(announced: number, max: number): GatewayError {
  const size = Number.isFinite(announced) ? `of ${announced} bytes` : 'with a malformed length';
  return new GatewayError('body_too_large', `an MQTT packet ${size}, more than mqtt.max_packet_bytes (${max}); the connection is closed`, 413);
}
