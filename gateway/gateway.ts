import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { ReadingBuffer } from './buffer/buffer.ts';
import { Intake } from './ingest/intake.ts';
import { registerTelemetryRoutes } from './ingest/http.ts';
import { WebSocketIntake } from './ingest/websocket.ts';
import { MqttIntake } from './ingest/mqtt/mqtt-intake.ts';
import { createServer } from './server.ts';
import { registerStatusRoutes } from './status/routes.ts';
import { TrafficStats } from './status/traffic.ts';
import { Inventory } from './inventory/inventory.ts';
import { Uploader } from './upload/uploader.ts';
import { registerGroupRoutes } from './upload/routes.ts';
import { SystemdNotifier } from './systemd.ts';
import { Discovery } from './discovery/discovery.ts';

/**
 * The daemon: each component is a small class with start/stop, started in the order a reading
 * flows (store → intake → transports → discovery → upload) and stopped in reverse, so nothing
 * accepts a reading it can no longer make durable.
 */
export class Gateway {
  readonly metrics: Metrics;
  readonly traffic = new TrafficStats();
  readonly buffer: ReadingBuffer;
  readonly inventory: Inventory;
  /** Built once the buffer is open: its intent manifest lives in the buffer's SQLite file. */
  uploader: Uploader | null = null;
  readonly systemd: SystemdNotifier;
  private app: FastifyInstance | null = null;
  private ws: WebSocketIntake | null = null;
  private mqtt: MqttIntake | null = null;
  private discovery: Discovery | null = null;
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | null = null;
  private resolveStopped!: () => void;
  /** Resolves once `stop()` has finished: main.ts waits on it to exit. */
  readonly stopped = new Promise<void>((r) => { this.resolveStopped = r; });
  port = 0;

  /** The embedded MQTT broker's port once started; null when it is off. */
  get mqttPort(): number | null {
    return this.mqtt?.port ?? null;
  }

  constructor(private readonly config: Config, private readonly log: Logger, private readonly version: string) {
    this.metrics = createMetrics();
    this.buffer = new ReadingBuffer({ config, log, metrics: this.metrics });
    this.inventory = new Inventory({ config, log, metrics: this.metrics, dbPath: config.sqlite.path });
    this.systemd = new SystemdNotifier({ config, log, probe: () => this.healthy(), statusText: () => this.statusLine() });
  }

  /**
   * The watchdog's question: is the event loop running (this runs at all) and can the store that
   * intake writes to take a write now? A wedged store answers neither in time, and the pings stop.
   */
  private async healthy(): Promise<boolean> {
    try {
      await this.buffer.ping();
      return true;
    } catch {
      return false;
    }
  }

  private discoveryStatus(): { enabled: boolean; backend: string | null; problem: string | null } {
    return { enabled: this.config.discovery.enabled, backend: this.discovery?.backendName ?? null, problem: this.discovery?.problem ?? null };
  }

  /** One line for `systemctl status iotgw`. */
  private statusLine(): string {
    const up = this.uploader?.status();
    if (!up) return `${this.traffic.perMinute()} readings/min, store ${this.buffer.mode}`;
    const last = up.last_success ? `last upload ${up.last_success.slice(0, 16)}Z` : up.enabled ? 'no upload yet' : 'upload disabled';
    return `${this.traffic.perMinute()} readings/min, store ${this.buffer.mode}, ${up.queued_windows} windows queued, ${last}`;
  }

  async start(): Promise<void> {
    const { config, log } = this;
    log.info({ version: this.version, gateway_id: config.gateway_id, data_dir: config.data_dir }, 'starting iotgw');
    await this.buffer.open();
    this.systemd.start();
    await this.inventory.start();
    const uploader = new Uploader({ config, log, metrics: this.metrics, buffer: this.buffer });
    this.uploader = uploader;

    const intake = new Intake(config, this.buffer, this.metrics, this.traffic, log);
    intake.observe(this.inventory);
    const app = createServer(config, log, this.metrics);
    this.app = app;
    registerTelemetryRoutes(app, intake);
    registerStatusRoutes(app, {
      gatewayId: config.gateway_id,
      version: this.version,
      startedAt: this.startedAt,
      metrics: this.metrics,
      traffic: this.traffic,
      buffer: this.buffer,
      inventory: this.inventory,
      upload: uploader,
      discovery: { status: () => this.discoveryStatus() },
    });
    registerGroupRoutes(app, uploader.atlas);
    await app.listen({ host: config.http.host, port: config.http.port });
    this.port = (app.server.address() as AddressInfo).port;
    this.ws = new WebSocketIntake(app.server, intake, config, log, this.metrics);
    await this.ws.start();
    // MQTT before discovery announces `_mqtt._tcp`, and stopped before the store closes.
    this.mqtt = new MqttIntake({ config, log, metrics: this.metrics, intake });
    await this.mqtt.start(this.ws);
    // Discovery needs the real port (0 in tests means "pick one"); it never throws for network reasons.
    this.discovery = new Discovery({ config, log, metrics: this.metrics, port: this.port, mqttPort: this.mqtt.port, inventory: this.inventory, version: this.version });
    await this.discovery.start();
    uploader.start();
    log.info({ host: config.http.host, port: this.port, mqtt_port: this.mqtt.port, store: this.buffer.mode }, 'listening');
    await this.systemd.ready();
  }

  /** Graceful: stop taking readings, let in-flight writes finish and be acknowledged, close stores. Bounded in time. */
  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  private async drain(): Promise<void> {
    const timeoutMs = this.config.shutdown_timeout_ms;
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    const work = (async () => {
      await this.systemd.stopping();
      await this.discovery?.stop(); // goodbye packets first: boards look elsewhere while we drain
      await this.ws?.stop(Math.max(100, timeoutMs - 500));
      await this.mqtt?.stop(Math.max(100, timeoutMs - 500));
      await this.app?.close();
      await this.uploader?.stop(Math.max(100, timeoutMs / 2));
      await this.inventory.stop();
      await this.buffer.close();
      this.systemd.stop();
    })();
    // A step that fails must not keep the process alive: what was acknowledged is already durable.
    const outcome = await Promise.race([work.then(() => 'done' as const, (err: Error) => err), timer]);
    if (outcome === 'timeout') this.log.warn({ timeout_ms: timeoutMs }, 'shutdown drain timed out; exiting anyway');
    else if (outcome instanceof Error) this.log.error({ err: outcome.message }, 'shutdown step failed; exiting anyway');
    else this.log.info('stopped cleanly');
    this.resolveStopped();
  }
}
