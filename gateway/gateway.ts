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
import { createServer, applyServerLimits } from './server.ts';
import { applyLive, type ConfigChanges } from './reload.ts';
import { GatewayError } from './errors.ts';
import { registerStatusRoutes } from './status/routes.ts';
import { registerReadToken } from './status/read-token.ts';
import { TrafficStats } from './status/traffic.ts';
import { Inventory } from './inventory/inventory.ts';
import { Uploader } from './upload/uploader.ts';
import { registerGroupRoutes } from './upload/routes.ts';
import { retryQuarantineCommand, uploadNowCommand } from './upload/upload-now.ts';
import { SystemdNotifier } from './systemd.ts';
import { Discovery } from './discovery/discovery.ts';
import { AdminServer } from './admin/server.ts';
import { adminSocketPath } from './admin/protocol.ts';
import { mkdirSync } from 'node:fs';
import { KeyStore, keysFilePath } from './keys/key-store.ts';
import { KeyCommands } from './keys/commands.ts';
import { FirmwareStore } from './firmware/image-store.ts';
import { Rollout } from './firmware/rollout.ts';
import { FirmwareCommands } from './firmware/commands.ts';
import { firmwareMetrics } from './firmware/metrics.ts';
import { deviceCounts, registerFirmwareRoutes } from './firmware/routes.ts';

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
  /** Published firmware images and their rollout (`iotgw firmware`), from `<data_dir>/firmware/`; set in start(). */
  firmware: { store: FirmwareStore; rollout: Rollout } | null = null;
  readonly systemd: SystemdNotifier;
  /** The admin socket (`<data_dir>/admin.sock`): components register their CLI commands on it in start(). */
  readonly admin: AdminServer;
  /** Device keys made with `iotgw devices add` (<data_dir>/device-keys.json), read at start and on reload. */
  readonly keys: KeyStore;
  private app: FastifyInstance | null = null;
  private ws: WebSocketIntake | null = null;
  private intake: Intake | null = null;
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

  /**
   * `reloadConfig` reads the configuration again for `reload()` (SIGHUP, `systemctl reload`);
   * main.ts passes its own loader (same file, same environment).
   */
  constructor(private readonly config: Config, private readonly log: Logger, private readonly version: string, private readonly reloadConfig: (() => Config) | null = null) {
    this.metrics = createMetrics();
    this.buffer = new ReadingBuffer({ config, log, metrics: this.metrics });
    this.inventory = new Inventory({ config, log, metrics: this.metrics, dbPath: config.sqlite.path });
    this.systemd = new SystemdNotifier({ config, log, probe: () => this.healthy(), statusText: () => this.statusLine() });
    this.admin = new AdminServer({ path: adminSocketPath(config.data_dir), log });
    this.admin.register('status', async () => ({ version: this.version, gateway_id: config.gateway_id, pid: process.pid, status: this.statusLine() }));
    this.keys = new KeyStore(keysFilePath(config.data_dir));
    const keyCommands = new KeyCommands(this.keys, () => this.config.ingest.auth);
    this.admin.register('devices.add', async (args) => ({ ...keyCommands.add(args), pid: process.pid }));
    this.admin.register('devices.revoke', async (args) => ({ ...keyCommands.revoke(args), pid: process.pid }));
    this.admin.register('devices.list', async () => ({ ...keyCommands.list(), pid: process.pid }));
    this.admin.register('reload', async () => ({ ...(await this.reload()), pid: process.pid }));
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

  private discoveryStatus(): { enabled: boolean; backend: string | null; problem: string | null; host: string | null; instance_name: string | null } {
    const d = this.config.discovery;
    return {
      enabled: d.enabled, backend: this.discovery?.backendName ?? null, problem: this.discovery?.problem ?? null,
      host: d.enabled ? `${d.host_name}.local` : null, instance_name: d.enabled ? d.instance_name : null,
    };
  }

  /** For `GET /stats` and the status page: whether intake is open, and how many keys exist (never the keys). */
  private authStatus(): { mode: string; open: boolean; device_keys: number; shared_key: boolean } {
    const auth = this.config.ingest.auth;
    return { mode: auth.mode, open: auth.mode === 'none', device_keys: this.keys.size + Object.keys(auth.device_keys).length, shared_key: auth.shared_key !== null };
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
    this.keys.load();
    await this.buffer.open();
    this.systemd.start();
    await this.inventory.start();
    const uploader = new Uploader({ config, log, metrics: this.metrics, buffer: this.buffer });
    this.uploader = uploader;
    // `iotgw upload --now` / `--retry-quarantine` while the daemon runs: the daemon does it.
    this.admin.register('upload-now', () => uploadNowCommand(uploader));
    this.admin.register('upload-retry-quarantine', () => retryQuarantineCommand(uploader));

    const intake = new Intake(config, this.buffer, this.metrics, this.traffic, log, this.keys);
    this.intake = intake;
    const fwStore = new FirmwareStore(config.data_dir, () => this.config.firmware.max_image_bytes);
    const maxFailures = () => this.config.firmware.max_failures;
    const rollout = new Rollout(fwStore, maxFailures, log.child({ component: 'firmware' }));
    this.firmware = { store: fwStore, rollout };
    const fwMetrics = firmwareMetrics(this.metrics.registry);
    intake.offerFirmware((readings) => rollout.offerForBatch(readings), () => fwMetrics.offers.inc());
    this.inventory.useFirmwareTargets((group) => rollout.target(group)?.version ?? null);
    const fwCommands = new FirmwareCommands(fwStore, rollout, (version) => deviceCounts(this.inventory.list(), version));
    const logged = (what: string, result: { image: { version: string } }) => {
      log.info({ version: result.image.version }, `firmware ${what}`);
      return { ...result, pid: process.pid };
    };
    this.admin.register('firmware.add', async (args) => logged('published', await fwCommands.add(args)));
    this.admin.register('firmware.remove', async (args) => logged('removed', fwCommands.remove(args)));
    this.admin.register('firmware.pause', async (args) => logged('paused', fwCommands.pause(args)));
    this.admin.register('firmware.resume', async (args) => logged('resumed', fwCommands.resume(args)));
    this.admin.register('firmware.list', async () => ({ ...fwCommands.list(), pid: process.pid }));
    const app = createServer(config, log, this.metrics);
    this.app = app;
    registerReadToken(app, config.http.read_token);
    registerTelemetryRoutes(app, intake);
    const status = registerStatusRoutes(app, {
      gatewayId: config.gateway_id,
      version: this.version,
      startedAt: this.startedAt,
      http: { host: config.http.host, port: () => this.port },
      redisConfigured: config.redis.url !== 'none',
      windowSeconds: config.window_seconds,
      log,
      metrics: this.metrics,
      traffic: this.traffic,
      buffer: this.buffer,
      inventory: this.inventory,
      upload: uploader,
      discovery: { status: () => this.discoveryStatus() },
      auth: { status: () => this.authStatus() },
    });
    // The inventory first, so the status page's event stream sends the device as it now is.
    const inventory = this.inventory;
    intake.observe({ recordReadings: (readings, address) => { rollout.observe(readings); inventory.recordReadings(readings, address); status.events.recordReadings(readings); } });
    registerFirmwareRoutes(app, { store: fwStore, rollout, auth: intake.auth, inventory, metrics: fwMetrics, maxFailures, log: log.child({ component: 'firmware' }) });
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
    mkdirSync(config.data_dir, { recursive: true });
    await this.admin.start();
    log.info({ host: config.http.host, port: this.port, mqtt_port: this.mqtt.port, store: this.buffer.mode }, 'listening');
    await this.systemd.ready();
  }

  /**
   * Re-reads the configuration and the device keys and applies what can change live (reload.ts).
   * A bad file changes nothing: the error, with the key's path, is logged and thrown, and the
   * running configuration stays.
   */
  async reload(load: (() => Config) | null = this.reloadConfig): Promise<ConfigChanges & { device_keys: number }> {
    if (!load) throw new GatewayError('reload_unavailable', 'this gateway was started without a configuration source to reload', 409);
    let next: Config;
    try {
      next = load();
      this.keys.load();
    } catch (err) {
      const e = err as Error & { path?: string };
      this.log.error({ err: e.message, path: e.path }, 'reload refused, the running configuration stays');
      throw new GatewayError('invalid_config', e.message, 400, e.path);
    }
    const changes = applyLive(this.config, next);
    this.intake?.reconfigure();
    if (this.app) applyServerLimits(this.app, this.config);
    this.log.level = this.config.log.level;
    if (changes.restart_needed.length > 0) this.log.warn({ settings: changes.restart_needed }, 'reload: these settings changed but take effect only after a restart');
    this.log.info({ applied: changes.applied, device_keys: this.keys.size }, 'configuration reloaded');
    return { ...changes, device_keys: this.keys.size };
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
      await this.admin.stop();
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
