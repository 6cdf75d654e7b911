import { connect, validateTopic, type IPublishPacket, type MqttClient } from 'mqtt';
import { Gauge } from 'prom-client';
import type { Config } from '../../config.ts';
import { ConfigError, type GatewayError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import type { MqttTelemetry, PublishOrigin } from './telemetry.ts';

export interface BridgeDeps {
  config: Pick<Config, 'mqtt' | 'gateway_id'>;
  log: Logger;
  metrics: Pick<Metrics, 'registry'>;
  telemetry: MqttTelemetry;
}

/** MQTT 5 PUBACK reason codes (§3.4.2.1) for a message refused for good. */
const NOT_AUTHORIZED = 0x87;
const TOPIC_NAME_INVALID = 0x90;
const PAYLOAD_FORMAT_INVALID = 0x99;
const IMPLEMENTATION_SPECIFIC_ERROR = 0x83;
/** The session outlives any outage: the MQTT 5 value for "never expires" (MQTT 3.1.1's clean: false). */
const SESSION_NEVER_EXPIRES = 0xffffffff;
const ORIGIN: PublishOrigin = { key: null, trusted: true, client: 'bridge' };

/**
 * Bridge mode: the gateway subscribes to a site's broker (Mosquitto) at QoS 1 with a persistent
 * session, and acknowledges each message only once intake made it durable, with MQTT.js's
 * `customHandleAcks` (MQTT 5 only, hence protocol version 5). While the gateway is down the
 * site's broker keeps the session's messages; what was delivered but not acknowledged when it
 * died is redelivered after it reconnects, and `(device_id, boot_id, seq)` stores it once.
 *
 * - A message that can never be stored (bad JSON, an invalid reading, a topic that does not
 *   match `mqtt.topic`) is counted, logged, and acknowledged with an MQTT 5 reason code, so the
 *   broker drops it instead of redelivering it forever.
 * - When no store can write, the message is retried here with backoff and not acknowledged.
 *   MQTT.js hands over one message at a time, so the rest wait in the broker meanwhile.
 */
export class MqttBridge {
  private client: MqttClient | null = null;
  private stopping = false;
  /** The message being made durable, if any: stop() lets it finish so its PUBACK goes out. */
  private current: Promise<void> = Promise.resolve();
  /** Ends the backoff wait of a message that could not be stored, so stop() need not sit it out. */
  private wake: (() => void) | null = null;
  private connectedOnce = false;
  private troubleLogged = false;
  private readonly topics: string[];
  private readonly log: Logger;
  private readonly connected: Gauge;

  constructor(private readonly deps: BridgeDeps) {
    this.log = deps.log.child({ component: 'mqtt-bridge' });
    this.connected = new Gauge({ name: 'iotgw_mqtt_bridge_connected', help: '1 while the MQTT bridge is connected to the site broker', registers: [deps.metrics.registry] });
    const s = deps.config.mqtt.subscribe;
    this.topics = s.topics.length > 0 ? s.topics : [deps.telemetry.template.filter];
    s.topics.forEach((t, i) => {
      if (!t || !validateTopic(t)) throw new ConfigError(`mqtt.subscribe.topics[${i}]`, `"${t}" is not an MQTT topic filter`);
    });
  }

  get clientId(): string {
    return this.deps.config.mqtt.subscribe.client_id ?? `iotgw-${this.deps.config.gateway_id}`;
  }

  /** Connects in the background: a site broker that is down does not stop the gateway; MQTT.js keeps retrying. */
  start(): void {
    const s = this.deps.config.mqtt.subscribe;
    const client = connect(s.url!, {
      clientId: this.clientId,
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: SESSION_NEVER_EXPIRES },
      username: s.username ?? undefined,
      password: s.password ?? undefined,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      resubscribe: false, // subscribed again on each connect below
      customHandleAcks: (topic, message, _packet, done) => {
        this.current = this.deliver(topic, message).then((code) => {
          if (code !== null) done(null as unknown as Error, code);
        });
      },
    });
    this.client = client;
    client.on('connect', (connack) => {
      this.connected.set(1);
      this.troubleLogged = false;
      if (this.connectedOnce && !connack.sessionPresent) {
        this.log.warn({ client_id: this.clientId }, 'the site broker kept no session for the bridge: what was published while the gateway was away is lost (check its persistent_client_expiration and max_queued_messages)');
      }
      this.connectedOnce = true;
      this.log.info({ url: redact(s.url!), client_id: this.clientId, topics: this.topics, session_present: connack.sessionPresent }, 'MQTT bridge connected');
      // rh 2: no retained messages on subscribing; they are old readings, not new ones.
      client.subscribe(this.topics, { qos: 1, rh: 2 }, (err, granted) => {
        if (err) this.log.error({ err: err.message, topics: this.topics }, 'MQTT bridge could not subscribe');
        for (const g of granted ?? []) if (g.qos !== 1) this.log.error({ topic: g.topic, granted: g.qos }, 'the site broker did not grant the bridge QoS 1 on this topic (0x80: refused by its ACL)');
      });
    });
    // QoS 0 has no acknowledgement to hold: taken on a best-effort basis (QoS 1 came through customHandleAcks).
    client.on('message', (topic, payload, packet: IPublishPacket) => {
      if (packet.qos === 0) this.deliverOnce(topic, payload);
    });
    client.on('close', () => this.connected.set(0));
    client.on('error', (err) => this.trouble(err.message));
  }

  /**
   * Makes one message durable; resolves with the PUBACK reason code: 0 stored, an error code when
   * it is refused for good, null when the bridge stops first (no PUBACK: the broker redelivers).
   */
  private async deliver(topic: string, payload: Buffer): Promise<number | null> {
    let backoffMs = 250;
    for (;;) {
      try {
        await this.deps.telemetry.accept(topic, payload, ORIGIN);
        return 0;
      } catch (err) {
        const e = this.deps.telemetry.refused(err, ORIGIN, topic);
        if (!transient(e)) return reasonCode(e);
      }
      if (this.stopping) return null;
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, backoffMs).unref();
      });
      this.wake = null;
      backoffMs = Math.min(backoffMs * 2, 30_000);
      if (this.stopping) return null;
    }
  }

  private deliverOnce(topic: string, payload: Buffer): void {
    this.deps.telemetry.accept(topic, payload, ORIGIN).catch((err: unknown) => this.deps.telemetry.refused(err, ORIGIN, topic));
  }

  private trouble(reason: string): void {
    if (this.troubleLogged) {
      this.log.debug({ reason }, 'MQTT bridge trouble');
      return;
    }
    this.troubleLogged = true;
    this.log.warn({ url: redact(this.deps.config.mqtt.subscribe.url!), reason }, 'MQTT bridge cannot reach the site broker; retrying every second');
  }

  /** Lets the message in hand finish (its PUBACK goes out), then disconnects; the session stays on the broker. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopping = true;
    this.wake?.();
    const client = this.client;
    if (!client) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((r) => { timer = setTimeout(r, timeoutMs); });
    await Promise.race([this.current, deadline]);
    await Promise.race([new Promise<void>((r) => client.end(false, {}, () => r())), deadline]);
    clearTimeout(timer);
    if (!client.disconnected) await new Promise<void>((r) => client.end(true, {}, () => r()));
  }
}

/** No store could write, or the gateway is stopping: worth trying again; anything else never will be. */
function transient(e: GatewayError): boolean {
  return e.code === 'store_unavailable' || e.code === 'shutting_down' || e.status === 429;
}

function reasonCode(e: GatewayError): number {
  if (e.status === 401) return NOT_AUTHORIZED;
  if (e.code === 'invalid_topic' || e.code === 'topic_mismatch') return TOPIC_NAME_INVALID;
  if (e.status >= 500) return IMPLEMENTATION_SPECIFIC_ERROR;
  return PAYLOAD_FORMAT_INVALID;
}

/** The URL without its password, for the log. */
function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
