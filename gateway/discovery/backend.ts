import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { DeviceSink } from './browser.ts';

/** What every backend gets. */
export interface BackendContext {
  config: Pick<Config, 'gateway_id' | 'ingest' | 'discovery' | 'mqtt'>;
  log: Logger;
  /** The HTTP port boards should connect to. */
  port: number;
  /** The embedded MQTT broker's port, advertised as `_mqtt._tcp`; null when the broker is off. */
  mqttPort: number | null;
  version: string;
  sink: DeviceSink;
  /** Called for trouble the backend meets (no multicast, daemon missing); the facade warns once. */
  onProblem: (reason: string) => void;
  /** How often interfaces are polled for address changes. */
  pollMs: number;
}

/** An mDNS implementation: advertise `_iotgw._tcp` (and `_mqtt._tcp`), browse `_iotgw-dev._tcp`, report to the sink. */
export interface DiscoveryBackend {
  readonly name: string;
  /** Never rejects for network reasons: trouble goes to `onProblem` and the backend runs degraded. */
  start(): Promise<void>;
  /** Withdraws what was advertised (goodbye packets) and releases sockets and child processes. */
  stop(): Promise<void>;
}
