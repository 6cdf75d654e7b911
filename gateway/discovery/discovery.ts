import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Inventory } from '../inventory/inventory.ts';
import { AvahiBackend } from './avahi-backend.ts';
import type { DiscoveryBackend } from './backend.ts';
import { BonjourBackend } from './bonjour-backend.ts';
import type { DeviceSink } from './browser.ts';

export interface DiscoveryOptions {
  config: Pick<Config, 'gateway_id' | 'ingest' | 'discovery' | 'mqtt'>;
  log: Logger;
  metrics?: Pick<Metrics, 'registry'>;
  /** The HTTP port the server actually listens on. */
  port: number;
  /** The embedded MQTT broker's port, advertised as `_mqtt._tcp`; null or absent when it is off. */
  mqttPort?: number | null;
  inventory: DeviceSink | Pick<Inventory, 'recordAnnouncement' | 'recordGoodbye'>;
  /** Gateway version for TXT `v`. */
  version: string;
  /** Interface poll interval, ms (default 2000). */
  pollMs?: number;
}

/**
 * mDNS for the gateway: advertise `_iotgw._tcp` (and `_mqtt._tcp` with the embedded broker), browse `_iotgw-dev._tcp` into the inventory.
 * `start()` never throws for network reasons: a backend that cannot work (no multicast, port 5353
 * taken, no avahi-daemon) is one warning, and the gateway keeps serving HTTP without discovery.
 */
export class Discovery {
  private backend: DiscoveryBackend | null = null;
  private warned = false;
  private readonly log: Logger;
  /** The first problem met, for the status page; null while discovery works (or is off). */
  problem: string | null = null;

  constructor(private readonly opts: DiscoveryOptions) {
    this.log = opts.log.child({ component: 'discovery' });
  }

  get backendName(): string | null {
    return this.backend?.name ?? null;
  }

  async start(): Promise<void> {
    const d = this.opts.config.discovery;
    if (!d.enabled) {
      this.log.info('mDNS discovery is off (discovery.enabled: false); boards need the gateway address configured');
      return;
    }
    const ctx = {
      config: this.opts.config, log: this.log, port: this.opts.port, mqttPort: this.opts.mqttPort ?? null, version: this.opts.version,
      sink: this.opts.inventory, onProblem: (reason: string) => this.degraded(reason), pollMs: this.opts.pollMs ?? 2000,
    };
    this.backend = d.backend === 'avahi' ? new AvahiBackend(ctx) : new BonjourBackend(ctx);
    try {
      await this.backend.start();
    } catch (err) {
      this.degraded(`backend failed to start: ${(err as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    const b = this.backend;
    this.backend = null;
    if (!b) return;
    try {
      await b.stop();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'mDNS backend did not stop cleanly');
    }
  }

  private degraded(reason: string): void {
    if (this.warned) {
      this.log.debug({ reason }, 'mDNS trouble');
      return;
    }
    this.warned = true;
    this.problem = reason;
    this.log.warn({ backend: this.opts.config.discovery.backend, reason }, `mDNS discovery degraded (${reason}); the gateway keeps serving HTTP, boards may need its address configured`);
  }
}
